#!/usr/bin/env node
// The DCC client package: dccproc.exe and cdcc.exe for Windows x64, built with mingw-w64 from the
// unchanged upstream DCC tarball (checked by its sha256; no source edits: compiler flags and one
// forced-include header only), with DCC's LICENSE and BUILD.txt, a note saying exactly how they
// were built, so that anyone can rebuild them and compare. The project holds no DCC source and no
// binaries: the release build (scripts/release.mjs) and the tests (test/helpers/realDcc.ts) build
// them from the tarball with the recipe below, the one place it is written.
//
//   node scripts/dcc-client.mjs --out DIR [--tarball FILE | --url URL]
//
// Without --tarball the tarball is downloaded from upstream (--url, default DCC_URL) and refused
// unless its sha256 is the one below. Exit codes: 0 built, 1 the build failed, 2 usage, or a tarball
// that is not the expected release (nothing written).
// Facts behind the recipe: ../shared/docs/dcc-build.md (built on Debian 12, mingw-w64 12).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const DCC_VERSION = '1.3.158';
export const DCC_TARBALL_SHA256 = '596bb4a02800a87501818215e61ac877e4d5a31ec0c8c227f23438f6b6b831c6';
/** Where upstream publishes its current source release; the hash check refuses any other release. */
export const DCC_URL = 'https://www.dcc-servers.net/dcc/source/dcc.tar.Z';

/** Linux (tests only): configure flags. `--homedir` etc. are added per build. */
export const CONFIGURE_FLAGS = ['--disable-sys-inst', '--disable-dccm', '--disable-dccifd', '--with-db-memory=32', '--with-max-db-mem=64'];
/** gcc >= 10 refuses dbclean's duplicate `grey_on` without -fcommon; given in the environment, not to make. */
export const LINUX_CFLAGS = '-O2 -fcommon';
export const LINUX_PROGRAMS = { dccproc: 'dccproc/dccproc', cdcc: 'cdcc/cdcc', dccd: 'dccd/dccd', dbclean: 'dbclean/dbclean' };

export const MINGW_CC = 'x86_64-w64-mingw32-gcc';
export const MINGW_AR = 'x86_64-w64-mingw32-ar';
export const MINGW_FLAGS = ['-O2', '-DDCC_WIN32', '-DWIN32', '-D_CONSOLE', '-D_TIMEZONE_DEFINED', '-w'];
/**
 * Forced into every Windows compile: uid_t/gid_t, and INVALID_SOCKET as DCC expects it. DCC keeps
 * sockets in 32 bits and compares them with INVALID_SOCKET, which is 64-bit on Win64: without the
 * redefinition select() fails with "Unknown error".
 */
export const MINGW_FORCED_HEADER = [
  '#include <winsock2.h>',
  '#include <ws2tcpip.h>',
  '#include <windows.h>',
  'typedef int uid_t;',
  'typedef int gid_t;',
  '#undef INVALID_SOCKET',
  '#define INVALID_SOCKET (-1)',
  '',
].join('\n');
/** The linker stamps the build time into the PE header unless told not to: without it no two builds compare equal. */
export const MINGW_LINK_FLAGS = ['-Wl,--no-insert-timestamp'];
export const WINDOWS_PROGRAMS = { dccproc: 'dccproc/dccproc.c', cdcc: 'cdcc/cdcc.c' };

/** Names the recipe: a build made by another recipe is never taken for this one. */
export const RECIPE_HASH = createHash('sha256')
  .update(
    JSON.stringify({
      DCC_TARBALL_SHA256,
      CONFIGURE_FLAGS,
      LINUX_CFLAGS,
      LINUX_PROGRAMS,
      MINGW_FLAGS,
      MINGW_FORCED_HEADER,
      MINGW_LINK_FLAGS,
      WINDOWS_PROGRAMS,
      v: 2,
    }),
  )
  .digest('hex')
  .slice(0, 10);

export class DccBuildError extends Error {
  constructor(message, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

export function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Why `tarball` is not the unchanged DCC release this recipe is for, or false. */
export async function tarballProblem(tarball) {
  let bytes;
  try {
    bytes = await readFile(tarball);
  } catch {
    return `the DCC ${DCC_VERSION} source is not at ${tarball}: put the unchanged upstream dcc.tar.Z of release ${DCC_VERSION} there`;
  }
  const sum = sha256(bytes);
  return sum === DCC_TARBALL_SHA256 ? false : `${tarball} is not the unchanged DCC ${DCC_VERSION} release (sha256 ${sum}, expected ${DCC_TARBALL_SHA256})`;
}

/** Runs a build command with an argument array; its output is shown only when it fails. */
function run(program, args, { cwd, env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', (err) => reject(new DccBuildError(`building DCC: cannot run ${program} (${err.message})`)));
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new DccBuildError(`building DCC: ${program} ${args.join(' ')} failed (exit ${code}) in ${cwd}:\n${out.slice(-3000)}`)),
    );
  });
}

async function unpack(tarball, scratch) {
  // GNU tar -z runs gzip, which reads compress(1) (.Z) files.
  await run('tar', ['-xzf', tarball, '-C', scratch], { cwd: scratch });
  return path.join(scratch, `dcc-${DCC_VERSION}`);
}

/** The sources a Windows library is made of, read from the tree's own win32.mak (duplicates dropped). */
async function win32Sources(dir) {
  const mak = await readFile(path.join(dir, 'win32.mak'), 'latin1');
  const block = /^SRCS\s*=((?:[^\n]*\\\n)*[^\n]*)/m.exec(mak);
  if (!block) throw new DccBuildError(`no SRCS in ${dir}/win32.mak`);
  return [
    ...new Set(
      block[1]
        .replace(/\\\n/g, ' ')
        .split(/\s+/)
        .filter((s) => s.endsWith('.c')),
    ),
  ];
}

/** Runs jobs two at a time (the machines have two cores). */
async function inParallel(jobs, width = 2) {
  const queue = [...jobs];
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let job = queue.shift(); job; job = queue.shift()) await job();
    }),
  );
}

function compilerVersion() {
  const r = spawnSync(MINGW_CC, ['--version'], { encoding: 'utf8' });
  return (r.stdout ?? '').split('\n')[0].trim() || 'unknown';
}

/** BUILD.txt: everything needed to rebuild the two programs and compare them with these. */
function buildNote(programs) {
  return [
    `dccproc.exe and cdcc.exe: the DCC client ${DCC_VERSION} for Windows x64`,
    '',
    'Built from the unchanged upstream source release of the Distributed Checksum Clearinghouse',
    `(Rhyolite Software), dcc.tar.Z of release ${DCC_VERSION}, published at https://www.dcc-servers.net/dcc/:`,
    `  sha256 ${DCC_TARBALL_SHA256}  dcc-${DCC_VERSION}.tar.Z`,
    'No file of the source was changed. Its licence is in LICENSE, beside this note.',
    '',
    `Compiler: ${compilerVersion()} (${MINGW_CC}, Debian's gcc-mingw-w64-x86-64)`,
    `Flags: ${MINGW_FLAGS.join(' ')} -include mingw-forced.h -I include`,
    'mingw-forced.h (forced into every compile; DCC keeps sockets in 32 bits, and INVALID_SOCKET is',
    '64-bit on Win64):',
    ...MINGW_FORCED_HEADER.trimEnd()
      .split('\n')
      .map((l) => `    ${l}`),
    '',
    'Steps, in the unpacked dcc-' + DCC_VERSION + ' folder (its include/dcc_config.h is already the Windows one):',
    "  1. clntlib and dcclib: compile each .c file that the SRCS list of the folder's win32.mak names,",
    `     with the flags above, and archive the objects with ${MINGW_AR} rcs into clntlib.a and dcclib.a;`,
    `  2. ${MINGW_CC} FLAGS -static ${MINGW_LINK_FLAGS.join(' ')} -o dccproc.exe dccproc/dccproc.c clntlib.a dcclib.a clntlib.a dcclib.a -lws2_32`,
    `     and the same for cdcc.exe from cdcc/cdcc.c (the two libraries call each other: listed twice).`,
    '',
    'This is what scripts/dcc-client.mjs of kerio-dcc does: `node scripts/dcc-client.mjs --tarball',
    `dcc-${DCC_VERSION}.tar.Z --out DIR\`. Rebuilt so with the same compiler release, the programs`,
    'should come out byte for byte the same as these:',
    ...programs.map((p) => `  sha256 ${p.sha256}  ${p.name}`),
    '',
  ].join('\r\n');
}

/**
 * Builds dccproc.exe and cdcc.exe from `tarball` into `out` (which must exist), with LICENSE and
 * BUILD.txt. `scratch` is an empty folder for the build tree.
 */
export async function buildWindowsClient(tarball, out, scratch) {
  const problem = await tarballProblem(tarball);
  if (problem) throw new DccBuildError(problem, 2);
  // The unpacked tree's include/dcc_config.h is already the Windows one: no configure.
  const src = await unpack(tarball, scratch);
  const forced = path.join(scratch, 'mingw-forced.h');
  await writeFile(forced, MINGW_FORCED_HEADER);
  const cflags = [...MINGW_FLAGS, '-include', forced, '-I', path.join(src, 'include')];
  const libs = [];
  for (const lib of ['clntlib', 'dcclib']) {
    const dir = path.join(src, lib);
    const sources = await win32Sources(dir);
    await inParallel(sources.map((s) => () => run(MINGW_CC, [...cflags, '-c', s, '-o', s.replace(/\.c$/, '.o')], { cwd: dir })));
    const archive = path.join(dir, `${lib}.a`);
    await run(MINGW_AR, ['rcs', archive, ...sources.map((s) => s.replace(/\.c$/, '.o'))], { cwd: dir });
    libs.push(archive);
  }
  await inParallel(
    Object.entries(WINDOWS_PROGRAMS).map(
      ([name, source]) =>
        () =>
          run(
            MINGW_CC,
            [...cflags, '-static', ...MINGW_LINK_FLAGS, '-o', path.join(out, `${name}.exe`), path.join(src, source), ...libs, ...libs, '-lws2_32'],
            { cwd: path.dirname(path.join(src, source)) },
          ),
    ),
  );
  await copyFile(path.join(src, 'LICENSE'), path.join(out, 'LICENSE'));
  const programs = [];
  for (const name of Object.keys(WINDOWS_PROGRAMS).map((n) => `${n}.exe`)) programs.push({ name, sha256: sha256(await readFile(path.join(out, name))) });
  await writeFile(path.join(out, 'BUILD.txt'), buildNote(programs));
}

/** Builds the Linux dccproc, cdcc, dccd and dbclean (tests only) into `out`, with LICENSE. */
export async function buildLinuxDcc(tarball, out, scratch, { jobs = 2 } = {}) {
  const problem = await tarballProblem(tarball);
  if (problem) throw new DccBuildError(problem, 2);
  const src = await unpack(tarball, scratch);
  // The home folder and the other locations are compiled in; tests always pass -h, so they
  // point into the scratch folder (gone after the build) and nothing is installed anywhere.
  const where = (d) => path.join(scratch, 'install', d);
  const locations = [
    `--homedir=${where('home')}`,
    `--bindir=${where('bin')}`,
    `--libexecdir=${where('libexec')}`,
    `--mandir=${where('man')}`,
    `--with-rundir=${where('run')}`,
    `--with-cgi-bin=${where('cgi-bin')}`,
  ];
  const env = { CFLAGS: LINUX_CFLAGS };
  await run('./configure', [...CONFIGURE_FLAGS, ...locations], { cwd: src, env });
  await run('make', ['-j', String(jobs)], { cwd: src, env });
  for (const [name, built] of Object.entries(LINUX_PROGRAMS)) {
    await copyFile(path.join(src, built), path.join(out, name));
    await chmod(path.join(out, name), 0o755);
  }
  await copyFile(path.join(src, 'LICENSE'), path.join(out, 'LICENSE'));
}

/** Downloads `url` into `file` and checks it is the expected release (fetch of Node 18+). */
export async function downloadTarball(url, file) {
  let response;
  try {
    response = await globalThis.fetch(url);
  } catch (err) {
    throw new DccBuildError(`Cannot download the DCC source from ${url} (${err.cause?.message ?? err.message}): give the tarball with --tarball FILE.`);
  }
  if (!response.ok) throw new DccBuildError(`Downloading ${url} failed: HTTP ${response.status}. Give the tarball with --tarball FILE.`);
  await writeFile(file, Buffer.from(await response.arrayBuffer()));
  const problem = await tarballProblem(file);
  if (problem)
    throw new DccBuildError(
      `${problem}. Upstream's current release is not the one this recipe was checked with: give dcc-${DCC_VERSION}.tar.Z with --tarball FILE.`,
      2,
    );
}

/** The client package in `out`, from a local tarball or one downloaded from `url`. */
export async function makeClientPackage({ out, tarball = null, url = DCC_URL }) {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'kerio-dcc-client-'));
  try {
    let source = tarball;
    if (source === null) {
      source = path.join(scratch, `dcc-${DCC_VERSION}.tar.Z`);
      await downloadTarball(url, source);
    }
    const problem = await tarballProblem(source);
    if (problem) throw new DccBuildError(problem, 2);
    const tree = path.join(scratch, 'tree');
    await mkdir(tree);
    await mkdir(out, { recursive: true });
    await buildWindowsClient(source, out, tree);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function parseArgs(argv) {
  const options = { out: null, tarball: null, url: DCC_URL };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new DccBuildError(`${flag} needs a value.`, 2);
      return argv[++i];
    };
    if (flag === '--out') options.out = path.resolve(value());
    else if (flag === '--tarball') options.tarball = path.resolve(value());
    else if (flag === '--url') options.url = value();
    else throw new DccBuildError(`Unknown option ${flag}. Options: --out DIR, --tarball FILE, --url URL.`, 2);
  }
  if (options.out === null) throw new DccBuildError('Give --out DIR: the folder for dccproc.exe, cdcc.exe, LICENSE and BUILD.txt.', 2);
  return options;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const options = parseArgs(process.argv.slice(2));
    await makeClientPackage(options);
    process.stdout.write(`DCC client ${DCC_VERSION} in ${options.out}: dccproc.exe, cdcc.exe, LICENSE, BUILD.txt\n`);
  } catch (err) {
    process.stderr.write(`dcc-client: ${err instanceof DccBuildError ? err.message : (err.stack ?? err)}\n`);
    process.exitCode = err instanceof DccBuildError ? err.exitCode : 1;
  }
}
