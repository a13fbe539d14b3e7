#!/usr/bin/env node
// Makes a release of kerio-dcc for Windows administrators, into release/ (git-ignored):
//   kerio-dcc-<version>-x64.msi      installs C:\Program Files\kerio-dcc\kerio-dcc.exe, on the system PATH
//                                    and the DCC client package in C:\Program Files\kerio-dcc\dcc\
//   kerio-dcc-<version>-win-x64.zip  the exe, README, CHANGELOG, LICENSE, the answers template and dcc\
//   SHA256SUMS                       `sha256sum -c` format, for every file above
// Run `npm run release` (builds dist/ and the exe first). Needs Debian's msitools and wixl
// (the MSI), zip, and osslsigncode (the exe build; signing).
//
// Signing (optional, Authenticode, SHA-256): KERIO_DCC_SIGN_PFX names a PFX file and
// KERIO_DCC_SIGN_PASSWORD holds its password; KERIO_DCC_SIGN_TIMESTAMP_URL adds an RFC 3161
// timestamp. The password is handed to osslsigncode on its standard input, never on a
// command line, in a file or in the output. Without them, the release is unsigned and says so.
//
// Reproducible: the same exe, sources and SOURCE_DATE_EPOCH (default: the time of the HEAD
// commit) give the same bytes, signing aside.
//
// The DCC client package (dcc\: dccproc.exe, cdcc.exe, DCC's LICENSE, BUILD.txt) is built by
// scripts/dcc-client.mjs from DCC's unchanged source tarball, downloaded from upstream and checked
// by its sha256 unless --dcc-tarball names a local copy (needs mingw-w64: gcc-mingw-w64-x86-64).
//
// Options: --exe FILE  package this exe instead of building dist/kerio-dcc.exe
//          --dcc-tarball FILE  build the DCC client from this dcc-<version>.tar.Z (checked by its sha256)
//          --dcc-client DIR    package this DCC client package, already built by scripts/dcc-client.mjs
//                              (its programs are checked against the hashes its BUILD.txt gives)
//          --out DIR   write there instead of release/
//          --msi-version X.Y.Z  (tests only) the MSI's version, to test upgrades with one exe
// Exit codes: 0 done, 1 a step failed, 2 a usage or configuration error (nothing written).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DCC_TARBALL_SHA256, DCC_VERSION, makeClientPackage } from './dcc-client.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WXS = path.join(ROOT, 'packaging', 'kerio-dcc.wxs');
const BUILT_EXE = path.join(ROOT, 'dist', 'kerio-dcc.exe');
/** The component that owns kerio-dcc.exe in the WXS; the PATH row belongs to it. */
const EXE_COMPONENT = 'KerioDccExe';
/** Windows Installer's standard places for the two environment actions. */
const ENVIRONMENT_ACTIONS = [
  ['RemoveEnvironmentStrings', 3300],
  ['WriteEnvironmentStrings', 5200],
];
const SIGN_ENV = { pfx: 'KERIO_DCC_SIGN_PFX', password: 'KERIO_DCC_SIGN_PASSWORD', timestampUrl: 'KERIO_DCC_SIGN_TIMESTAMP_URL' };

class ReleaseError extends Error {
  constructor(message, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

function parseArgs(argv) {
  const options = { exe: null, out: path.join(ROOT, 'release'), msiVersion: null, dccTarball: null, dccClient: null };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new ReleaseError(`${flag} needs a value.`, 2);
      return argv[++i];
    };
    if (flag === '--exe') options.exe = path.resolve(value());
    else if (flag === '--out') options.out = path.resolve(value());
    else if (flag === '--msi-version') options.msiVersion = value();
    else if (flag === '--dcc-tarball') options.dccTarball = path.resolve(value());
    else if (flag === '--dcc-client') options.dccClient = path.resolve(value());
    else throw new ReleaseError(`Unknown option ${flag}. Options: --exe FILE, --out DIR, --msi-version X.Y.Z, --dcc-tarball FILE, --dcc-client DIR.`, 2);
  }
  return options;
}

/** Runs a program with an argument array; `input` goes to its standard input. */
function run(program, args, what, { cwd = ROOT, input, env } = {}) {
  const result = spawnSync(program, args, { cwd, input, env, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  if (result.error?.code === 'ENOENT') throw new ReleaseError(`${what}: ${program} is not installed.`);
  if (result.error) throw new ReleaseError(`${what}: ${result.error.message}`);
  if (result.status !== 0) throw new ReleaseError(`${what} failed (exit ${result.status}):\n${result.stderr || result.stdout}`);
  return result.stdout;
}

function requireTools(signing) {
  const tools = [['wixl', 'wixl'], ['msibuild', 'msitools'], ['msiinfo', 'msitools'], ['zip', 'zip'], ...(signing ? [['osslsigncode', 'osslsigncode']] : [])];
  const missing = tools.filter(([program]) => spawnSync(program, ['--version'], { stdio: 'ignore' }).error?.code === 'ENOENT');
  if (missing.length > 0) {
    throw new ReleaseError(`Missing ${missing.map(([p]) => p).join(', ')}: apt-get install ${[...new Set(missing.map(([, pkg]) => pkg))].join(' ')}`, 2);
  }
}

/** The signing configuration from the environment, or null; a half-given one is an error. */
function signingConfig() {
  const pfx = process.env[SIGN_ENV.pfx] ?? '';
  const password = process.env[SIGN_ENV.password];
  const timestampUrl = process.env[SIGN_ENV.timestampUrl] ?? '';
  if (pfx === '') {
    if (password !== undefined || timestampUrl !== '') {
      throw new ReleaseError(
        `${password !== undefined ? SIGN_ENV.password : SIGN_ENV.timestampUrl} is set but ${SIGN_ENV.pfx} is not: set both ${SIGN_ENV.pfx} and ${SIGN_ENV.password} to sign, or neither.`,
        2,
      );
    }
    return null;
  }
  if (password === undefined) throw new ReleaseError(`${SIGN_ENV.pfx} is set but ${SIGN_ENV.password} is not: give the PFX's password (an empty one too).`, 2);
  return { pfx: path.resolve(pfx), password, timestampUrl };
}

/** The time every packaged file claims: SOURCE_DATE_EPOCH, or the HEAD commit's. */
function sourceDateEpoch() {
  const given = process.env['SOURCE_DATE_EPOCH'];
  if (given !== undefined && given !== '') {
    if (!/^\d+$/.test(given)) throw new ReleaseError(`SOURCE_DATE_EPOCH must be whole seconds since 1970, not "${given}".`, 2);
    return Number(given);
  }
  try {
    return Number(execFileSync('git', ['log', '-1', '--format=%ct'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch {
    throw new ReleaseError('Not a git checkout: set SOURCE_DATE_EPOCH (seconds since 1970) to the time of the sources.', 2);
  }
}

/** A name-based UUID (RFC 4122 version 5): the same namespace and name always give the same one. */
function uuidV5(namespace, name) {
  const ns = Buffer.from(namespace.replace(/[{}-]/g, ''), 'hex');
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest().subarray(0, 16);
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const hex = hash.toString('hex').toUpperCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

function buildExe() {
  const build = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build-exe.mjs')], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  if (build.status !== 0) throw new ReleaseError(`Building the exe failed (exit ${build.status}); see above.`);
  return BUILT_EXE;
}

/** Authenticode-signs `file` in place with SHA-256; the password goes to osslsigncode's standard input. */
async function sign(file, signing, description) {
  const unsigned = `${file}.unsigned`;
  await rm(unsigned, { force: true });
  await copyFile(file, unsigned);
  await rm(file);
  const args = ['sign', '-pkcs12', signing.pfx, '-readpass', '-', '-h', 'sha256', '-n', description];
  if (signing.timestampUrl) args.push('-ts', signing.timestampUrl);
  args.push('-in', unsigned, '-out', file);
  const env = { ...process.env };
  delete env[SIGN_ENV.password];
  try {
    run('osslsigncode', args, `Signing ${path.basename(file)} (osslsigncode)`, { input: signing.password, env });
  } finally {
    await rm(unsigned, { force: true });
  }
}

/** Text files for Windows: CRLF, so that Notepad on older servers shows their lines. */
function crlf(text) {
  return text.replace(/\r?\n/g, '\r\n');
}

/** One IDT file (msitools' table import format): tab-separated, CRLF. */
function idt(columns, types, keyLine, rows) {
  return [columns.join('\t'), types.join('\t'), keyLine, ...rows.map((r) => r.join('\t'))].map((l) => `${l}\r\n`).join('');
}

/**
 * Sets the creation and last-saved times in the MSI's summary information to `epoch`.
 * wixl stamps them with the build time and msibuild cannot set them; they are the only
 * FILETIME properties (type 0x40) in the file whose value falls inside this build, so each
 * is found by that and overwritten in place (same length), then checked with msiinfo.
 */
async function fixSummaryTimes(msi, builtFrom, builtTo, epoch) {
  const bytes = await readFile(msi);
  const toFiletime = (seconds) => (BigInt(seconds) + 11644473600n) * 10_000_000n;
  const low = toFiletime(builtFrom - 2);
  const high = toFiletime(builtTo + 2);
  const hits = [];
  for (let i = 0; i + 12 <= bytes.length; i += 4) {
    if (bytes.readUInt32LE(i) !== 0x40) continue;
    const value = bytes.readBigUInt64LE(i + 4);
    if (value >= low && value <= high) hits.push(i + 4);
  }
  if (hits.length !== 2)
    throw new ReleaseError(
      `Expected the MSI's two summary times (created, last saved) from this build, found ${hits.length}: the wixl output changed, see fixSummaryTimes.`,
    );
  for (const at of hits) bytes.writeBigUInt64LE(toFiletime(epoch), at);
  await writeFile(msi, bytes);
  const expected = new Date(epoch * 1000);
  const info = run('msiinfo', ['suminfo', msi], 'msiinfo suminfo', { env: { ...process.env, TZ: 'UTC' } });
  const times = [...info.matchAll(/^(?:Created|Last saved): (.+)$/gm)].map((m) => new Date(`${m[1]} UTC`).getTime());
  if (times.length !== 2 || times.some((t) => t !== expected.getTime()))
    throw new ReleaseError(`The MSI's summary times did not become ${expected.toISOString()}:\n${info}`);
}

async function buildMsi(stage, { msiVersion, epoch }) {
  const wxs = await readFile(WXS, 'utf8');
  const upgradeCode = /UpgradeCode="([0-9A-F-]{36})"/.exec(wxs)?.[1];
  if (!upgradeCode) throw new ReleaseError(`${path.relative(ROOT, WXS)} has no UpgradeCode.`);
  // examples/ansible derives the same code (kerio_dcc_msi_product_id, to_uuid): keep the name in step with it.
  const productCode = uuidV5(upgradeCode, `kerio-dcc product ${msiVersion}`);
  const msi = path.join(stage, 'kerio-dcc.msi');
  // The cabinet inside keeps the files' modification times, as local times.
  await utimes(path.join(stage, 'kerio-dcc.exe'), epoch, epoch);
  for (const name of DCC_CLIENT_FILES) await utimes(path.join(stage, 'dcc', name), epoch, epoch);
  const startedAt = Math.floor(Date.now() / 1000);
  // wixl finds File sources relative to its working folder: the stage, holding kerio-dcc.exe.
  run('wixl', ['-a', 'x64', '-D', `Version=${msiVersion}`, '-D', `ProductCode=${productCode}`, '-D', 'Exe=kerio-dcc.exe', '-o', msi, WXS], 'wixl', {
    cwd: stage,
    env: { ...process.env, TZ: 'UTC' },
  });

  // The PATH entry: `=-*PATH` is the system PATH, set on install and taken out on uninstall;
  // `[~];` appends INSTALLDIR to what is there instead of replacing it.
  const environment = idt(['Environment', 'Name', 'Value', 'Component_'], ['s72', 'l255', 'L255', 's72'], 'Environment\tEnvironment', [
    ['KerioDccPath', '=-*PATH', '[~];[INSTALLDIR]', EXE_COMPONENT],
  ]);
  await writeFile(path.join(stage, 'Environment.idt'), environment);
  run('msibuild', [msi, '-i', path.join(stage, 'Environment.idt')], 'msibuild -i Environment.idt');
  for (const [action, sequence] of ENVIRONMENT_ACTIONS) {
    run(
      'msibuild',
      [msi, '-q', `INSERT INTO \`InstallExecuteSequence\` (\`Action\`, \`Sequence\`) VALUES ('${action}', ${sequence})`],
      `msibuild: add ${action}`,
    );
  }

  // The package code names these exact bytes: derived from what went in, so it repeats only when they do.
  let exeHash = sha256(await readFile(path.join(stage, 'kerio-dcc.exe')));
  for (const name of DCC_CLIENT_FILES) exeHash += ` ${sha256(await readFile(path.join(stage, 'dcc', name)))}`;
  const packageCode = uuidV5(upgradeCode, `kerio-dcc package ${msiVersion} ${sha256(Buffer.from(wxs))} ${exeHash}`);
  run('msibuild', [msi, '-s', 'kerio-dcc', 'kerio-dcc contributors', 'x64;1033', `{${packageCode}}`], 'msibuild -s (package code)');
  await fixSummaryTimes(msi, startedAt, Math.ceil(Date.now() / 1000), epoch);
  return { msi, productCode, upgradeCode };
}

/** The files of the DCC client package, as they go into dcc\ of the MSI and the zip. */
const DCC_CLIENT_FILES = ['BUILD.txt', 'LICENSE', 'cdcc.exe', 'dccproc.exe'];

/** Puts the DCC client package into stage/dcc: built from the tarball, or taken from --dcc-client after checking it. */
async function stageDccClient(stage, options) {
  const dir = path.join(stage, 'dcc');
  if (options.dccClient === null) {
    try {
      await makeClientPackage({ out: dir, tarball: options.dccTarball });
    } catch (err) {
      throw new ReleaseError(`The DCC client: ${err.message}`, err.exitCode ?? 1);
    }
    return;
  }
  await mkdir(dir);
  for (const name of DCC_CLIENT_FILES) {
    await copyFile(path.join(options.dccClient, name), path.join(dir, name)).catch(() => {
      throw new ReleaseError(`--dcc-client ${options.dccClient} has no ${name}: build it with node scripts/dcc-client.mjs --out DIR.`, 2);
    });
  }
  const note = await readFile(path.join(dir, 'BUILD.txt'), 'utf8');
  if (!note.includes(`sha256 ${DCC_TARBALL_SHA256}`))
    throw new ReleaseError(`--dcc-client ${options.dccClient}: its BUILD.txt does not name DCC ${DCC_VERSION}'s tarball (sha256 ${DCC_TARBALL_SHA256}).`, 2);
  for (const name of ['dccproc.exe', 'cdcc.exe']) {
    if (!note.includes(`sha256 ${sha256(await readFile(path.join(dir, name)))}  ${name}`))
      throw new ReleaseError(`--dcc-client ${options.dccClient}: ${name} is not the program its BUILD.txt describes.`, 2);
  }
}

async function buildZip(stage, zipFile, epoch) {
  const dir = path.join(stage, 'zip');
  await mkdir(dir);
  const texts = [
    ['README.md', 'README.md'],
    ['CHANGELOG.md', 'CHANGELOG.md'],
    ['LICENSE', 'LICENSE.txt'],
    [path.join('templates', 'answers.ini'), 'answers.ini'],
  ];
  for (const [from, to] of texts) await writeFile(path.join(dir, to), crlf(await readFile(path.join(ROOT, from), 'utf8')));
  await copyFile(path.join(stage, 'kerio-dcc.exe'), path.join(dir, 'kerio-dcc.exe'));
  // The DCC client goes unchanged (its licence allows only unchanged copies): no CRLF conversion.
  await mkdir(path.join(dir, 'dcc'));
  for (const name of DCC_CLIENT_FILES) await copyFile(path.join(stage, 'dcc', name), path.join(dir, 'dcc', name));
  const names = [...(await readdir(dir)).filter((n) => n !== 'dcc'), ...DCC_CLIENT_FILES.map((n) => `dcc/${n}`)].sort();
  for (const name of names) {
    await chmod(path.join(dir, name), 0o644);
    await utimes(path.join(dir, name), epoch, epoch);
  }
  // -X: no uid/gid or extra timestamps; -D: no folder entries; TZ=UTC: the DOS times zip stores are local times.
  // zip's default compression: -9 costs 2.5 times the CPU for a zip 0.4% smaller.
  run('zip', ['-X', '-D', '-q', zipFile, ...names], 'zip', { cwd: dir, env: { ...process.env, TZ: 'UTC' } });
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const signing = signingConfig();
  requireTools(signing);
  if (signing)
    await stat(signing.pfx).catch(() => {
      throw new ReleaseError(`${SIGN_ENV.pfx} names ${signing.pfx}, which cannot be read.`, 2);
    });
  const version = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')).version;
  const msiVersion = options.msiVersion ?? version;
  if (!/^\d{1,3}\.\d{1,3}\.\d{1,5}$/.test(msiVersion))
    throw new ReleaseError(`The MSI version must be major.minor.patch (at most 255.255.65535), not "${msiVersion}".`, 2);
  const epoch = sourceDateEpoch();

  const exe = options.exe ?? buildExe();
  const stage = await mkdtemp(path.join(os.tmpdir(), 'kerio-dcc-release-'));
  try {
    await stageDccClient(stage, options);
    await copyFile(exe, path.join(stage, 'kerio-dcc.exe'));
    if (signing) await sign(path.join(stage, 'kerio-dcc.exe'), signing, 'kerio-dcc');

    const files = { msi: `kerio-dcc-${msiVersion}-x64.msi`, zip: `kerio-dcc-${msiVersion}-win-x64.zip` };
    const built = await buildMsi(stage, { msiVersion, epoch });
    if (signing) await sign(built.msi, signing, `kerio-dcc ${msiVersion}`);
    await buildZip(stage, path.join(stage, files.zip), epoch);

    // Earlier releases' files go too: SHA256SUMS covers every file in the folder, and CI publishes them all.
    await mkdir(options.out, { recursive: true });
    for (const name of await readdir(options.out)) {
      if (name === 'SHA256SUMS' || /^kerio-dcc-.+-(x64\.msi|win-x64\.zip)$/.test(name)) await rm(path.join(options.out, name), { force: true });
    }
    await copyFile(built.msi, path.join(options.out, files.msi));
    await copyFile(path.join(stage, files.zip), path.join(options.out, files.zip));
    const sums = [];
    for (const name of [files.msi, files.zip].sort()) sums.push(`${sha256(await readFile(path.join(options.out, name)))}  ${name}\n`);
    await writeFile(path.join(options.out, 'SHA256SUMS'), sums.join(''));

    process.stdout.write(`${sums.join('')}`);
    process.stdout.write(
      `kerio-dcc ${msiVersion} in ${path.relative(process.cwd(), options.out) || '.'}: ProductCode {${built.productCode}}, UpgradeCode {${built.upgradeCode}}\n`,
    );
    process.stdout.write(
      signing
        ? `Signed (Authenticode, SHA-256${signing.timestampUrl ? ', timestamped' : ', NOT timestamped'}): kerio-dcc.exe and the MSI.\n`
        : `UNSIGNED: set ${SIGN_ENV.pfx} and ${SIGN_ENV.password} to sign the exe and the MSI.\n`,
    );
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`release: ${err instanceof ReleaseError ? err.message : (err.stack ?? err)}\n`);
  process.exitCode = err instanceof ReleaseError ? err.exitCode : 1;
});
