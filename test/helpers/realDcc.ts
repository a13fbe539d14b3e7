// The real DCC 1.3.158, built at test time from the unchanged upstream tarball in
// ../shared/vendor/dcc (its licence forbids committing the source, a changed copy or binaries).
// Built once per machine into a cache folder outside the checkout, keyed by a hash of the
// recipe below; a rerun finds it there and builds nothing. Facts behind the recipe:
// ../shared/docs/dcc-build.md.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from './fixtures.js';
import { DCC_TARBALL_SHA256, DCC_VERSION, MINGW_AR, MINGW_CC, RECIPE_HASH, buildLinuxDcc, buildWindowsClient } from '../../scripts/dcc-client.mjs';

export { DCC_VERSION };
export const DCC_TARBALL = path.resolve(projectRoot, '..', 'shared', 'vendor', 'dcc', `dcc-${DCC_VERSION}.tar.Z`);

/** The real Linux client and server programs. */
export interface LinuxDcc {
  dccproc: string;
  cdcc: string;
  dccd: string;
  dbclean: string;
  /** How long building took in this process (0 when it came from the cache). */
  builtMs: number;
}

/** The real Windows x64 client programs (run them under Wine). */
export interface WindowsDcc {
  dccproc: string;
  cdcc: string;
  /** The folder holding both, with DCC's LICENSE and BUILD.txt: a client package as a release ships it. */
  dir: string;
  builtMs: number;
}

// ---------------------------------------------------------------------------- the recipe
// One recipe, shared with the release build: scripts/dcc-client.mjs.

/** Where the built programs are kept: outside the checkout, shared by every checkout on the machine. */
export function dccCacheDir(): string {
  const base = process.env['XDG_CACHE_HOME'] || path.join(os.homedir(), '.cache');
  return path.join(base, 'kerio-dcc-tests', `dcc-${DCC_VERSION}-${RECIPE_HASH}`);
}

// ---------------------------------------------------------------------------- can it be built?

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', command], { stdio: 'ignore' }).status === 0;
}

let tarballProblem: string | false | undefined;
function tarballCheck(): string | false {
  if (tarballProblem !== undefined) return tarballProblem;
  if (!existsSync(DCC_TARBALL))
    tarballProblem = `the DCC ${DCC_VERSION} source is not at ${DCC_TARBALL}: put the unchanged upstream dcc.tar.Z of release ${DCC_VERSION} there`;
  else {
    const sum = createHash('sha256').update(readFileSync(DCC_TARBALL)).digest('hex');
    tarballProblem =
      sum === DCC_TARBALL_SHA256 ? false : `${DCC_TARBALL} is not the unchanged DCC ${DCC_VERSION} release (sha256 ${sum}, expected ${DCC_TARBALL_SHA256})`;
  }
  return tarballProblem;
}

/** Why the real Linux DCC cannot be had here (a skip message naming what to install), or false. */
export function linuxDccMissing(): string | false {
  if (process.platform !== 'linux') return 'the real DCC is built for Linux tests; this is not Linux';
  if (existsSync(path.join(dccCacheDir(), 'linux', 'dccproc'))) return false;
  const missing = ['gcc', 'make', 'tar', 'gzip'].filter((c) => !onPath(c));
  if (missing.length) return `building the real DCC needs ${missing.join(', ')}: apt-get install -y gcc make`;
  return tarballCheck();
}

/** Why the real Windows dccproc.exe cannot be had here, or false. */
export function windowsDccMissing(): string | false {
  if (process.platform !== 'linux') return 'the Windows DCC client is cross-built on Linux';
  if (existsSync(path.join(dccCacheDir(), 'win64', 'dccproc.exe'))) return false;
  const missing = [MINGW_CC, MINGW_AR, 'tar', 'gzip'].filter((c) => !onPath(c));
  if (missing.length) return `cross-building the real dccproc.exe needs mingw-w64: apt-get install -y gcc-mingw-w64-x86-64`;
  return tarballCheck();
}

// ---------------------------------------------------------------------------- build once, under a lock

/**
 * Builds `name` (a folder in the cache) with `build` unless it is there. Two test files run at
 * once: the first takes a lock folder, the others wait for it; a build goes into a temp folder that
 * is renamed into place, so a half-built folder is never seen.
 */
async function once(name: string, build: (out: string, scratch: string) => Promise<void>): Promise<number> {
  const cache = dccCacheDir();
  const final = path.join(cache, name);
  if (existsSync(final)) return 0;
  await mkdir(cache, { recursive: true });
  const lock = `${final}.lock`;
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (existsSync(final)) return 0;
    // A lock left by a killed build (its process is gone) is broken.
    const owner = Number(await readFile(path.join(lock, 'pid'), 'utf8').catch(() => '0'));
    const age = Date.now() - (await stat(lock).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
    if ((owner > 0 && !alive(owner)) || (owner === 0 && age > 60_000)) await rm(lock, { recursive: true, force: true });
    if (Date.now() > deadline) throw new Error(`waited 10 minutes for another build of DCC (lock ${lock})`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const started = Date.now();
  try {
    await writeFile(path.join(lock, 'pid'), `${process.pid}\n`);
    if (existsSync(final)) return 0;
    const scratch = await mkdtemp(path.join(os.tmpdir(), `kerio-dcc-build-${name}-`));
    const out = `${final}.tmp-${process.pid}`;
    try {
      await rm(out, { recursive: true, force: true });
      await mkdir(out);
      await build(out, scratch);
      await rename(out, final);
    } finally {
      await rm(scratch, { recursive: true, force: true });
      await rm(out, { recursive: true, force: true });
    }
    return Date.now() - started;
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The real Linux dccproc, cdcc, dccd and dbclean (built on first use). */
export async function linuxDcc(): Promise<LinuxDcc> {
  const problem = linuxDccMissing();
  if (problem) throw new Error(problem);
  const jobs = Math.max(1, Math.min(2, os.availableParallelism()));
  const builtMs = await once('linux', (out, scratch) => buildLinuxDcc(DCC_TARBALL, out, scratch, { jobs }));
  const dir = path.join(dccCacheDir(), 'linux');
  return { dccproc: path.join(dir, 'dccproc'), cdcc: path.join(dir, 'cdcc'), dccd: path.join(dir, 'dccd'), dbclean: path.join(dir, 'dbclean'), builtMs };
}

/** The real Windows x64 dccproc.exe and cdcc.exe, cross-built with mingw-w64 (built on first use), with LICENSE and BUILD.txt: the client package a release ships. */
export async function windowsDcc(): Promise<WindowsDcc> {
  const problem = windowsDccMissing();
  if (problem) throw new Error(problem);
  const builtMs = await once('win64', (out, scratch) => buildWindowsClient(DCC_TARBALL, out, scratch));
  const dir = path.join(dccCacheDir(), 'win64');
  return { dccproc: path.join(dir, 'dccproc.exe'), cdcc: path.join(dir, 'cdcc.exe'), dir, builtMs };
}
