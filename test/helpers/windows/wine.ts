import { execFileSync, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { copyFile, mkdir, mkdtemp, open, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** What a Windows program left behind: its exit code and the text it wrote. */
export interface WineResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** A program on PATH, found without running a shell; null when it is not installed. */
export function findOnPath(name: string): string | null {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      continue;
    }
  }
  return null;
}

/** Why the Windows smoke run cannot happen on this machine, or null when it can. */
export function wineMissingReason(): string | null {
  const missing = ['wine', 'wineserver'].filter((p) => findOnPath(p) === null);
  if (missing.length === 0) return null;
  return `${missing.join(' and ')} not found on PATH: install Debian's wine package (apt-get install --no-install-recommends wine wine64) to run the Windows smoke test`;
}

/** A drive-letter path inside the prefix, made only of characters that need no cmd.exe escaping. */
function assertPlainForCmd(word: string): void {
  if (/["%^&|<>!\r\n]/.test(word)) throw new Error(`refusing to put ${JSON.stringify(word)} into a batch file: it needs cmd.exe escaping`);
}

/**
 * Runs `start` (a program started through cmd.exe) again, three tries in all, while what it
 * returns (`seen`: the errorlevel and what cmd.exe printed) shows that Wine could not start the
 * program. Wine's cmd.exe says "Can't recognize '...' as an internal or external command"
 * (errorlevel 9009) also when CreateProcess fails for a program it found
 * (programs/cmd/wcmdmain.c), which a loaded machine at times gives (seen once in CI, for a
 * dccproc.exe that had just run). The program never ran, so nothing changed.
 */
export async function untilWineStartsIt<T>(
  start: () => Promise<T>,
  seen: (result: T) => { errorlevel: string; output: string },
  onRetry: (output: string) => void = () => undefined,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const result = await start();
    const { errorlevel, output } = seen(result);
    if (attempt === 3 || errorlevel !== '9009' || !output.startsWith("Can't recognize ")) return result;
    onRetry(output);
  }
}

/** One word of a cmd.exe command line: quoted when it holds a space, as an administrator would type it. */
export function cmdWord(word: string): string {
  assertPlainForCmd(word);
  return /\s/.test(word) ? `"${word}"` : word;
}

/** How a prefix differs from the default (the machine's locale, Wine's own tools). */
export interface PrefixOptions {
  /** A generated Unix locale, e.g. `cs_CZ.UTF-8`: it sets the prefix's code pages. */
  locale?: string;
  /** More environment for every Windows program in the prefix. */
  env?: Record<string, string>;
  /** Added to WINEDLLOVERRIDES, e.g. `sc.exe=n` to run a native sc.exe placed in system32. */
  dllOverrides?: string;
}

/**
 * A throw-away Wine prefix set to Windows 10, run headless. Node's node.exe under Wine
 * dies with EBADF when a standard handle is a Unix pipe, so every program here gets
 * /dev/null for input and files for output, never pipes.
 */
export class WinePrefix {
  readonly prefix: string;
  readonly driveC: string;
  readonly env: NodeJS.ProcessEnv;
  private readonly logs: string;
  private runs = 0;
  private disposed = false;

  private constructor(prefix: string, logs: string, options: PrefixOptions) {
    this.prefix = prefix;
    this.driveC = path.join(prefix, 'drive_c');
    this.logs = logs;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      // The prefix's ANSI and OEM code pages come from the Unix locale (it must be generated).
      ...(options.locale ? { LANG: options.locale, LC_ALL: options.locale } : {}),
      ...options.env,
      WINEPREFIX: prefix,
      WINEARCH: 'win64',
      WINEDEBUG: '-all',
      // Keeps wineboot from offering to download Mono and Gecko, which would wait for a click.
      WINEDLLOVERRIDES: ['mscoree,mshtml=', ...(options.dllOverrides ? [options.dllOverrides] : [])].join(';'),
    };
    delete env['DISPLAY'];
    delete env['WAYLAND_DISPLAY'];
    this.env = env;
  }

  /** Boots a fresh prefix and sets it to Windows 10 (Node refuses older Windows versions). */
  static async create(options: PrefixOptions = {}): Promise<WinePrefix> {
    const base = await mkdtemp(path.join(os.tmpdir(), 'kerio-dcc-wine-'));
    const prefix = path.join(base, 'prefix');
    const logs = path.join(base, 'logs');
    await mkdir(logs);
    const wine = new WinePrefix(prefix, logs, options);
    process.once('exit', () => wine.killServerNow());
    try {
      const boot = await wine.run(['wineboot', '--init'], 240_000);
      if (boot.exitCode !== 0) throw new Error(`wineboot --init failed (exit ${boot.exitCode}): ${boot.stderr}`);
      const version = await wine.run(['reg', 'add', 'HKCU\\Software\\Wine', '/v', 'Version', '/t', 'REG_SZ', '/d', 'win10', '/f'], 60_000);
      if (version.exitCode !== 0) throw new Error(`setting the prefix to Windows 10 failed (exit ${version.exitCode}): ${version.stderr}`);
    } catch (err) {
      await wine.dispose();
      throw err;
    }
    return wine;
  }

  /** Runs `wine ARGS...` with /dev/null as input and files as output. */
  async run(args: string[], timeoutMs = 120_000): Promise<WineResult> {
    const n = ++this.runs;
    const outFile = path.join(this.logs, `${n}.out`);
    const errFile = path.join(this.logs, `${n}.err`);
    const out = await open(outFile, 'w');
    const err = await open(errFile, 'w');
    try {
      const child = spawn('wine', args, { env: this.env, stdio: ['ignore', out.fd, err.fd] });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      const exitCode = await new Promise<number>((resolve, reject) => {
        child.once('error', reject);
        child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : -1)));
      }).finally(() => clearTimeout(timer));
      return { exitCode, timedOut, stdout: await readFile(outFile, 'utf8'), stderr: await readFile(errFile, 'utf8') };
    } finally {
      await out.close();
      await err.close();
    }
  }

  /** The host path of a `C:\...` path, matching existing folders case-insensitively as Windows does. */
  async hostPath(winPath: string): Promise<string> {
    const parts = winPath
      .replace(/^[Cc]:\\/, '')
      .split('\\')
      .filter(Boolean);
    let current = this.driveC;
    for (const part of parts) {
      const names = await readdir(current).catch(() => [] as string[]);
      current = path.join(current, names.find((n) => n.toLowerCase() === part.toLowerCase()) ?? part);
    }
    return current;
  }

  /**
   * Copies a folder that stands for C:\ into the prefix's drive_c, joining folders that
   * differ only in case (`Windows` and Wine's `windows`) and never replacing a Wine file.
   */
  async mergeIntoDriveC(imageRoot: string, winDir = 'C:\\'): Promise<void> {
    for (const entry of await readdir(imageRoot, { withFileTypes: true })) {
      const winPath = `${winDir.endsWith('\\') ? winDir : `${winDir}\\`}${entry.name}`;
      const source = path.join(imageRoot, entry.name);
      const dest = await this.hostPath(winPath);
      if (entry.isDirectory()) {
        await mkdir(dest, { recursive: true });
        await this.mergeIntoDriveC(source, winPath);
      } else {
        await copyFile(source, dest, constants.COPYFILE_EXCL);
      }
    }
  }

  /**
   * Runs a batch file through cmd.exe: each entry of `lines` is one line. A batch file,
   * not `cmd /c "a & echo %ERRORLEVEL%"`: cmd expands %ERRORLEVEL% when it reads a line,
   * so the exit code must be echoed on a line of its own.
   */
  async runBatch(winPath: string, lines: string[], timeoutMs = 120_000): Promise<WineResult> {
    await this.writeBatch(winPath, lines);
    return this.run(['cmd', '/c', winPath], timeoutMs);
  }

  /** Writes a batch file (CRLF, echo off) at a `C:\...` path. */
  async writeBatch(winPath: string, lines: string[]): Promise<void> {
    const host = await this.hostPath(winPath);
    await mkdir(path.dirname(host), { recursive: true });
    await writeFile(host, `@echo off\r\n${lines.join('\r\n')}\r\n`, 'latin1');
  }

  private killServerNow(): void {
    if (this.disposed) return;
    try {
      execFileSync('wineserver', ['-k'], { env: this.env, stdio: 'ignore', timeout: 30_000 });
    } catch {
      // No server was running for this prefix.
    }
  }

  /** Stops this prefix's wineserver (and every Windows process in it) and deletes the prefix. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.killServerNow();
    this.disposed = true;
    await rm(path.dirname(this.prefix), { recursive: true, force: true });
  }
}
