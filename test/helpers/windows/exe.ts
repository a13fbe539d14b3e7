import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { jsonOutput, PROJECT } from '../cli.js';
import { cmdWord, findOnPath, untilWineStartsIt, type WinePrefix, type WineResult } from './wine.js';

/** kerio-dcc.exe as `npm run build:exe` makes it. */
export const EXE = path.join(PROJECT, 'dist', 'kerio-dcc.exe');

/** The newest change to what goes into the exe: sources, templates, package files. */
function newestInput(): number {
  let newest = 0;
  const visit = (p: string): void => {
    const s = statSync(p);
    if (s.isDirectory()) for (const name of readdirSync(p)) visit(path.join(p, name));
    else newest = Math.max(newest, s.mtimeMs);
  };
  for (const p of ['src', 'templates', 'package.json', 'package-lock.json', 'scripts/build-exe.mjs']) visit(path.join(PROJECT, p));
  return newest;
}

/** Held while one test process builds the exe (a folder: making it is atomic). */
const BUILDING = path.join(PROJECT, 'dist', '.exe-build.lock');
/** A build takes seconds; a lock older than this was left by a test process that was killed. */
const STALE_BUILD_MS = 10 * 60 * 1000;

/**
 * Builds dist/kerio-dcc.exe when it is missing or older than its sources; returns why it cannot,
 * or null. Test files run side by side: one builds, the others wait for it and use its exe (two
 * builds at once removed each other's bundle).
 */
export function buildExeIfNeeded(): string | null {
  const fresh = () => existsSync(EXE) && statSync(EXE).mtimeMs >= newestInput();
  if (fresh()) return null;
  if (findOnPath('osslsigncode') === null) {
    return "osslsigncode not found on PATH: install Debian's osslsigncode (apt-get install osslsigncode) to build dist/kerio-dcc.exe for the Windows smoke test";
  }
  mkdirSync(path.dirname(BUILDING), { recursive: true });
  for (;;) {
    try {
      mkdirSync(BUILDING);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const since = Date.now() - (statSync(BUILDING, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
    if (since > STALE_BUILD_MS) rmSync(BUILDING, { recursive: true, force: true });
    else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
  }
  try {
    if (fresh()) return null;
    const build = spawnSync(process.execPath, [path.join(PROJECT, 'scripts', 'build-exe.mjs')], { cwd: PROJECT, stdio: ['ignore', 'inherit', 'inherit'] });
    if (build.status !== 0) throw new Error(`npm run build:exe failed (exit ${build.status}); see its output above`);
    return null;
  } finally {
    rmSync(BUILDING, { recursive: true, force: true });
  }
}

/** What one run of kerio-dcc.exe left: the exit code cmd.exe saw, and its output. */
export interface ExeRun {
  errorlevel: number;
  stdout: string;
  stderr: string;
  json: any;
}

/**
 * Runs kerio-dcc.exe (`tool`) from cmd.exe in `workDir`, as an administrator would, and reads
 * %ERRORLEVEL% after it. `base` (a `C:\...` path without extension) names the batch file and
 * the files its output goes to.
 */
export function runExe(wine: WinePrefix, tool: string, workDir: string, base: string, args: string[]): Promise<ExeRun> {
  return untilWineStartsIt(
    () => runExeOnce(wine, tool, workDir, base, args),
    (run) => ({ errorlevel: String(run.errorlevel), output: run.stderr }),
  );
}

async function runExeOnce(wine: WinePrefix, tool: string, workDir: string, base: string, args: string[]): Promise<ExeRun> {
  const result: WineResult = await wine.runBatch(`${base}.cmd`, [
    `cd /d ${cmdWord(workDir)}`,
    `${[tool, ...args].map(cmdWord).join(' ')} >${cmdWord(`${base}.out`)} 2>${cmdWord(`${base}.err`)}`,
    `>${cmdWord(`${base}.code`)} echo %ERRORLEVEL%`,
  ]);
  if (result.timedOut) throw new Error(`kerio-dcc.exe ${args.join(' ')} did not finish in time`);
  const read = async (ext: string) => readFile(await wine.hostPath(`${base}.${ext}`), 'utf8').catch(() => '');
  const code = (await read('code')).trim();
  const stdout = await read('out');
  const json = jsonOutput(args, stdout);
  if (!/^-?\d+$/.test(code))
    throw new Error(`cmd.exe printed no exit code for kerio-dcc.exe ${args.join(' ')} (wine exit ${result.exitCode}): ${result.stderr}`);
  return { errorlevel: Number(code), stdout, stderr: await read('err'), json };
}
