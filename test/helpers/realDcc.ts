// The real DCC 1.3.158, built at test time from the unchanged upstream tarball in
// ../shared/vendor/dcc (its licence forbids committing the source, a changed copy or binaries).
// Built once per machine into a cache folder outside the checkout, keyed by a hash of the
// recipe below; a rerun finds it there and builds nothing. Facts behind the recipe:
// ../shared/docs/dcc-build.md.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { projectRoot } from './fixtures.js';

export const DCC_VERSION = '1.3.158';
export const DCC_TARBALL = path.resolve(projectRoot, '..', 'shared', 'vendor', 'dcc', `dcc-${DCC_VERSION}.tar.Z`);
const DCC_TARBALL_SHA256 = '596bb4a02800a87501818215e61ac877e4d5a31ec0c8c227f23438f6b6b831c6';

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
  builtMs: number;
}

// ---------------------------------------------------------------------------- the recipe

/** Linux: configure flags. `--homedir` etc. are added per build (they point into the cache). */
const CONFIGURE_FLAGS = ['--disable-sys-inst', '--disable-dccm', '--disable-dccifd', '--with-db-memory=32', '--with-max-db-mem=64'];
/** gcc >= 10 refuses dbclean's duplicate `grey_on` without -fcommon; given in the environment, not to make. */
const LINUX_CFLAGS = '-O2 -fcommon';
const LINUX_PROGRAMS = { dccproc: 'dccproc/dccproc', cdcc: 'cdcc/cdcc', dccd: 'dccd/dccd', dbclean: 'dbclean/dbclean' } as const;

const MINGW_CC = 'x86_64-w64-mingw32-gcc';
const MINGW_AR = 'x86_64-w64-mingw32-ar';
const MINGW_FLAGS = ['-O2', '-DDCC_WIN32', '-DWIN32', '-D_CONSOLE', '-D_TIMEZONE_DEFINED', '-w'];
/**
 * Forced into every Windows compile: uid_t/gid_t, and INVALID_SOCKET as DCC expects it. DCC keeps
 * sockets in 32 bits and compares them with INVALID_SOCKET, which is 64-bit on Win64: without the
 * redefinition select() fails with "Unknown error".
 */
const MINGW_FORCED_HEADER = [
  '#include <winsock2.h>',
  '#include <ws2tcpip.h>',
  '#include <windows.h>',
  'typedef int uid_t;',
  'typedef int gid_t;',
  '#undef INVALID_SOCKET',
  '#define INVALID_SOCKET (-1)',
  '',
].join('\n');
const WINDOWS_PROGRAMS = { dccproc: 'dccproc/dccproc.c', cdcc: 'cdcc/cdcc.c' } as const;

const RECIPE_HASH = createHash('sha256')
  .update(JSON.stringify({ DCC_TARBALL_SHA256, CONFIGURE_FLAGS, LINUX_CFLAGS, LINUX_PROGRAMS, MINGW_FLAGS, MINGW_FORCED_HEADER, WINDOWS_PROGRAMS, v: 1 }))
  .digest('hex')
  .slice(0, 10);

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
  if (!existsSync(DCC_TARBALL)) tarballProblem = `the DCC ${DCC_VERSION} source is not at ${DCC_TARBALL}: put the unchanged upstream dcc.tar.Z of release ${DCC_VERSION} there`;
  else {
    const sum = createHash('sha256').update(readFileSync(DCC_TARBALL)).digest('hex');
    tarballProblem = sum === DCC_TARBALL_SHA256 ? false : `${DCC_TARBALL} is not the unchanged DCC ${DCC_VERSION} release (sha256 ${sum}, expected ${DCC_TARBALL_SHA256})`;
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

async function unpack(scratch: string): Promise<string> {
  // GNU tar -z runs gzip, which reads compress(1) (.Z) files.
  await execa('tar', ['-xzf', DCC_TARBALL, '-C', scratch]);
  return path.join(scratch, `dcc-${DCC_VERSION}`);
}

async function run(program: string, args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<void> {
  const r = await execa(program, args, { ...options, all: true, reject: false });
  if (r.exitCode !== 0) throw new Error(`building DCC: ${program} ${args.join(' ')} failed (exit ${r.exitCode}) in ${options.cwd}:\n${(r.all ?? '').slice(-3000)}`);
}

/** The real Linux dccproc, cdcc, dccd and dbclean (built on first use). */
export async function linuxDcc(): Promise<LinuxDcc> {
  const problem = linuxDccMissing();
  if (problem) throw new Error(problem);
  const builtMs = await once('linux', async (out, scratch) => {
    const src = await unpack(scratch);
    // The home folder and the other locations are compiled in; tests always pass -h, so they
    // point into the scratch folder (gone after the build) and nothing is installed anywhere.
    const where = (d: string) => path.join(scratch, 'install', d);
    const locations = [`--homedir=${where('home')}`, `--bindir=${where('bin')}`, `--libexecdir=${where('libexec')}`, `--mandir=${where('man')}`, `--with-rundir=${where('run')}`, `--with-cgi-bin=${where('cgi-bin')}`];
    const env = { CFLAGS: LINUX_CFLAGS };
    await run('./configure', [...CONFIGURE_FLAGS, ...locations], { cwd: src, env });
    await run('make', ['-j', String(Math.max(1, Math.min(2, os.availableParallelism())))], { cwd: src, env });
    for (const [name, built] of Object.entries(LINUX_PROGRAMS)) {
      await copyFile(path.join(src, built), path.join(out, name));
      await chmod(path.join(out, name), 0o755);
    }
    await copyFile(path.join(src, 'LICENSE'), path.join(out, 'LICENSE'));
  });
  const dir = path.join(dccCacheDir(), 'linux');
  return { dccproc: path.join(dir, 'dccproc'), cdcc: path.join(dir, 'cdcc'), dccd: path.join(dir, 'dccd'), dbclean: path.join(dir, 'dbclean'), builtMs };
}

/** The sources a Windows library is made of, read from the tree's own win32.mak (duplicates dropped). */
async function win32Sources(dir: string): Promise<string[]> {
  const mak = await readFile(path.join(dir, 'win32.mak'), 'latin1');
  const block = /^SRCS\s*=((?:[^\n]*\\\n)*[^\n]*)/m.exec(mak);
  if (!block) throw new Error(`no SRCS in ${dir}/win32.mak`);
  return [...new Set(block[1]!.replace(/\\\n/g, ' ').split(/\s+/).filter((s) => s.endsWith('.c')))];
}

/** Runs jobs two at a time (the machines have two cores). */
async function inParallel(jobs: (() => Promise<void>)[], width = 2): Promise<void> {
  const queue = [...jobs];
  await Promise.all(Array.from({ length: width }, async () => {
    for (let job = queue.shift(); job; job = queue.shift()) await job();
  }));
}

/** The real Windows x64 dccproc.exe and cdcc.exe, cross-built with mingw-w64 (built on first use). */
export async function windowsDcc(): Promise<WindowsDcc> {
  const problem = windowsDccMissing();
  if (problem) throw new Error(problem);
  const builtMs = await once('win64', async (out, scratch) => {
    // The unpacked tree's include/dcc_config.h is already the Windows one: no configure.
    const src = await unpack(scratch);
    const forced = path.join(scratch, 'mingw-forced.h');
    await writeFile(forced, MINGW_FORCED_HEADER);
    const cflags = [...MINGW_FLAGS, '-include', forced, '-I', path.join(src, 'include')];
    const libs: string[] = [];
    for (const lib of ['clntlib', 'dcclib']) {
      const dir = path.join(src, lib);
      const sources = await win32Sources(dir);
      await inParallel(sources.map((s) => () => run(MINGW_CC, [...cflags, '-c', s, '-o', s.replace(/\.c$/, '.o')], { cwd: dir })));
      const archive = path.join(dir, `${lib}.a`);
      await run(MINGW_AR, ['rcs', archive, ...sources.map((s) => s.replace(/\.c$/, '.o'))], { cwd: dir });
      libs.push(archive);
    }
    // The two libraries call each other: list them twice.
    await inParallel(Object.entries(WINDOWS_PROGRAMS).map(([name, source]) => () =>
      run(MINGW_CC, [...cflags, '-static', '-o', path.join(out, `${name}.exe`), path.join(src, source), ...libs, ...libs, '-lws2_32'], { cwd: path.dirname(path.join(src, source)) }),
    ));
    await copyFile(path.join(src, 'LICENSE'), path.join(out, 'LICENSE'));
  });
  const dir = path.join(dccCacheDir(), 'win64');
  return { dccproc: path.join(dir, 'dccproc.exe'), cdcc: path.join(dir, 'cdcc.exe'), builtMs };
}
