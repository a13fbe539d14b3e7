// `npm run release` (scripts/release.mjs) and `npm pack`: what an administrator downloads.
// The exe is built once (dist/kerio-dcc.exe, as the Wine tests use it; its own build is
// reproducible by construction, see scripts/build-exe.mjs): the packaging runs twice here.
import { spawn } from 'node:child_process';
import { cp, mkdir, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { PROJECT, tempDir, type CliResult } from './helpers/cli.js';
import { releaseNames, releaseToolsMissing, runRelease, VERSION } from './helpers/release.js';
import { buildExeIfNeeded, EXE } from './helpers/windows/exe.js';
import { findOnPath } from './helpers/windows/wine.js';
import { windowsDcc } from './helpers/realDcc.js';

const NAMES = releaseNames(VERSION);
const EPOCH = 1_700_000_000;
const ZIP_CONTENTS = [
  'CHANGELOG.md',
  'LICENSE.txt',
  'README.md',
  'answers.ini',
  'dcc/BUILD.txt',
  'dcc/LICENSE',
  'dcc/cdcc.exe',
  'dcc/dccproc.exe',
  'kerio-dcc.exe',
];

/** A program with an argument array; its exit code and output. */
function exec(
  program: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; encoding?: 'buffer' } = {},
): Promise<CliResult & { bytes: Buffer }> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      cwd: options.cwd ?? PROJECT,
      env: { ...process.env, NODE_OPTIONS: '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const bytes = Buffer.concat(out);
      resolve({ code: code ?? -1, stdout: bytes.toString('utf8'), stderr, json: undefined, bytes });
    });
  });
}

const unzipMissing = findOnPath('unzip') === null ? "unzip not found on PATH: install Debian's unzip to read the zip" : null;
const releaseSkip = releaseToolsMissing() ?? unzipMissing ?? buildExeIfNeeded();
const signSkip =
  releaseSkip ??
  releaseToolsMissing([
    ['osslsigncode', 'osslsigncode'],
    ['openssl', 'openssl'],
  ]);

/** One unsigned release at EPOCH, made once and shared by the tests that only read it. */
let shared: Promise<{ out: string; run: CliResult }> | null = null;
function unsignedRelease(): Promise<{ out: string; run: CliResult }> {
  shared ??= (async () => {
    const out = await tempDir(t, 'kerio-dcc-release-');
    return { out, run: await runRelease(['--exe', EXE, '--out', out], { SOURCE_DATE_EPOCH: String(EPOCH) }) };
  })();
  return shared;
}

t.test('the release is reproducible: packaging the same exe twice gives the same bytes', { skip: releaseSkip ?? false }, async (t) => {
  const { out: first, run: firstRun } = await unsignedRelease();
  const second = await tempDir(t, 'kerio-dcc-release-');
  const secondRun = await runRelease(['--exe', EXE, '--out', second], { SOURCE_DATE_EPOCH: String(EPOCH) });
  for (const run of [firstRun, secondRun]) {
    t.equal(run.code, 0, 'release exits 0', { stderr: run.stderr });
    t.match(run.stdout, /^UNSIGNED: set KERIO_DCC_SIGN_PFX and KERIO_DCC_SIGN_PASSWORD/m, 'an unsigned release says so');
  }
  t.same((await readdir(first)).sort(), ['SHA256SUMS', NAMES.zip, NAMES.msi].sort(), 'release/ holds the MSI, the zip and SHA256SUMS');
  for (const name of [NAMES.msi, NAMES.zip, 'SHA256SUMS']) {
    t.ok((await readFile(path.join(first, name))).equals(await readFile(path.join(second, name))), `${name} is byte-identical in both builds`);
  }
  const check = await exec('sha256sum', ['-c', 'SHA256SUMS'], { cwd: first });
  t.equal(check.code, 0, 'sha256sum -c SHA256SUMS passes', { stdout: check.stdout, stderr: check.stderr });
  t.same(check.stdout.trim().split('\n').sort(), [`${NAMES.msi}: OK`, `${NAMES.zip}: OK`].sort(), 'and covers both files');

  // The ProductCode is a name-based UUID (RFC 4122 v5) of the version in the UpgradeCode, so the Ansible role can
  // derive it too (to_uuid); Python's uuid5 is the reference.
  const upgradeCode = /UpgradeCode="([0-9A-F-]{36})"/.exec(await readFile(path.join(PROJECT, 'packaging', 'kerio-dcc.wxs'), 'utf8'))![1]!;
  if (findOnPath('python3') !== null) {
    const python = await exec('python3', [
      '-c',
      'import sys, uuid; print(str(uuid.uuid5(uuid.UUID(sys.argv[1]), sys.argv[2])).upper())',
      upgradeCode,
      `kerio-dcc product ${VERSION}`,
    ]);
    t.match(
      firstRun.stdout,
      `ProductCode {${python.stdout.trim()}}, UpgradeCode {${upgradeCode}}`,
      'the ProductCode is uuid5(UpgradeCode, "kerio-dcc product <version>")',
    );
  }
  const info = await exec('msiinfo', ['suminfo', path.join(first, NAMES.msi)], { env: { TZ: 'UTC' } });
  t.match(info.stdout, /^Created: Tue Nov 14 22:13:20 2023$/m, 'the MSI claims SOURCE_DATE_EPOCH, not the build time');
  const other = await tempDir(t, 'kerio-dcc-release-');
  const later = await runRelease(['--exe', EXE, '--out', other], { SOURCE_DATE_EPOCH: String(EPOCH + 86_400) });
  t.equal(later.code, 0, 'release exits 0', { stderr: later.stderr });
  t.not(
    await readFile(path.join(other, 'SHA256SUMS'), 'utf8'),
    await readFile(path.join(first, 'SHA256SUMS'), 'utf8'),
    'another SOURCE_DATE_EPOCH gives other hashes: the comparison can fail',
  );
});

t.test(
  'the zip holds the exe, README, CHANGELOG, LICENSE, the answers template and the DCC client package, for Windows',
  { skip: releaseSkip ?? false },
  async (t) => {
    const { out, run } = await unsignedRelease();
    t.equal(run.code, 0, 'release exits 0', { stderr: run.stderr });
    const zip = path.join(out, NAMES.zip);
    const listing = await exec('unzip', ['-Z', '-T', zip]);
    const entries = listing.stdout
      .split('\n')
      .filter((l) => /^[-d]/.test(l))
      .map((l) => l.trim().split(/\s+/));
    t.same(
      entries.map((e) => e.at(-1)),
      ZIP_CONTENTS,
      'exactly these files, sorted, no folders',
    );
    t.ok(
      entries.every((e) => e.at(-2) === '20231114.221320'),
      'every file dated SOURCE_DATE_EPOCH',
      { entries },
    );
    const member = async (name: string) => (await exec('unzip', ['-p', zip, name])).bytes;
    t.ok((await member('kerio-dcc.exe')).equals(await readFile(EXE)), 'kerio-dcc.exe is the built exe, byte for byte (unsigned)');
    for (const [name, source] of [
      ['README.md', 'README.md'],
      ['CHANGELOG.md', 'CHANGELOG.md'],
      ['LICENSE.txt', 'LICENSE'],
      ['answers.ini', 'templates/answers.ini'],
    ] as const) {
      const text = (await member(name)).toString('utf8');
      t.equal(text, (await readFile(path.join(PROJECT, source), 'utf8')).replace(/\r?\n/g, '\r\n'), `${name} is ${source} with CRLF line ends, for Notepad`);
    }
    const client = await windowsDcc();
    for (const name of ['dccproc.exe', 'cdcc.exe', 'LICENSE', 'BUILD.txt']) {
      t.ok((await member(`dcc/${name}`)).equals(await readFile(path.join(client.dir, name))), `dcc/${name} is the DCC client package's, byte for byte`);
    }
    t.match(
      (await member('dcc/BUILD.txt')).toString('utf8'),
      /sha256 596bb4a02800a87501818215e61ac877e4d5a31ec0c8c227f23438f6b6b831c6 {2}dcc-1\.3\.158\.tar\.Z/,
      'BUILD.txt names the upstream tarball by its sha256',
    );
    // The MSI installs the same package into C:\Program Files\kerio-dcc\dcc\ (its File and Directory tables).
    const msi = path.join(out, NAMES.msi);
    const fileTable = (await exec('msiinfo', ['export', msi, 'File'])).stdout;
    const dirTable = (await exec('msiinfo', ['export', msi, 'Directory'])).stdout;
    t.match(dirTable, /^DCCDIR\tINSTALLDIR\tdcc\r?$/m, 'the MSI has a dcc folder inside the install folder');
    for (const name of ['dccproc.exe', 'cdcc.exe', 'LICENSE', 'BUILD.txt']) {
      const size = (await stat(path.join(client.dir, name))).size;
      t.match(
        fileTable,
        new RegExp(`^\\w+\\tDccClient\\t([^\\t|]+\\|)?${name.replace('.', '\\.')}\\t${size}\\t`, 'm'),
        `the MSI installs dcc\\${name} (${size} bytes)`,
      );
    }
    t.match(
      (await member('LICENSE.txt')).toString('utf8'),
      /^MIT License\r\n\r\nCopyright \(c\) \d{4} kerio-dcc contributors\r\n/,
      'the licence is MIT, kerio-dcc contributors',
    );
  },
);

t.test('usage and configuration errors exit 2 and write nothing', { skip: releaseSkip ?? false }, async (t) => {
  const out = await tempDir(t, 'kerio-dcc-release-');
  const cases: [string, string[], NodeJS.ProcessEnv, RegExp][] = [
    [
      'a PFX without its password',
      ['--exe', EXE, '--out', out],
      { KERIO_DCC_SIGN_PFX: path.join(out, 'signer.pfx') },
      /KERIO_DCC_SIGN_PFX is set but KERIO_DCC_SIGN_PASSWORD is not/,
    ],
    [
      'a password without a PFX',
      ['--exe', EXE, '--out', out],
      { KERIO_DCC_SIGN_PASSWORD: 'x' },
      /KERIO_DCC_SIGN_PASSWORD is set but KERIO_DCC_SIGN_PFX is not/,
    ],
    [
      'a PFX that is not there',
      ['--exe', EXE, '--out', out],
      { KERIO_DCC_SIGN_PFX: path.join(out, 'missing.pfx'), KERIO_DCC_SIGN_PASSWORD: 'x' },
      /missing\.pfx, which cannot be read/,
    ],
    ['an unknown option', ['--sign-with', 'x.pfx'], {}, /Unknown option --sign-with/],
    ['an MSI version Windows Installer cannot hold', ['--exe', EXE, '--out', out, '--msi-version', '1.2.3-beta'], {}, /major\.minor\.patch/],
  ];
  for (const [what, args, env, message] of cases) {
    const run = await runRelease(args, env);
    t.equal(run.code, 2, `${what}: exit 2`, { stderr: run.stderr });
    t.match(run.stderr, message, `${what}: says what is wrong`);
  }
  t.same(await readdir(out), [], 'nothing was written');
});

/** A throw-away CA and a code-signing certificate it issued, as a PFX with a password. */
async function makeSigner(dir: string, password: string): Promise<{ ca: string; pfx: string }> {
  const ssl = async (args: string[]) => {
    const run = await exec('openssl', args, { cwd: dir });
    if (run.code !== 0) throw new Error(`openssl ${args[0]} failed: ${run.stderr}`);
  };
  await ssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=kerio-dcc test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'signer.key', '-out', 'signer.csr', '-subj', '/CN=kerio-dcc test signer']);
  await writeFile(path.join(dir, 'signer.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n');
  await ssl([
    'x509',
    '-req',
    '-in',
    'signer.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'signer.pem',
    '-days',
    '2',
    '-extfile',
    'signer.ext',
  ]);
  // The password reaches openssl through its environment, as the release script's does.
  const run = await exec(
    'openssl',
    ['pkcs12', '-export', '-out', 'signer.pfx', '-inkey', 'signer.key', '-in', 'signer.pem', '-certfile', 'ca.pem', '-passout', 'env:PFX_PASSWORD'],
    { cwd: dir, env: { PFX_PASSWORD: password } },
  );
  if (run.code !== 0) throw new Error(`openssl pkcs12 failed: ${run.stderr}`);
  return { ca: path.join(dir, 'ca.pem'), pfx: path.join(dir, 'signer.pfx') };
}

t.test('with a PFX, the exe (in the zip and in the MSI) and the MSI are Authenticode-signed', { skip: signSkip ?? false }, async (t) => {
  const dir = await tempDir(t, 'kerio-dcc-sign-');
  const password = 'test pass "with" spaces; and $ signs';
  const signer = await makeSigner(dir, password);
  const out = path.join(dir, 'release');
  const run = await runRelease(['--exe', EXE, '--out', out], { KERIO_DCC_SIGN_PFX: signer.pfx, KERIO_DCC_SIGN_PASSWORD: password });
  t.equal(run.code, 0, 'release exits 0', { stderr: run.stderr });
  t.match(run.stdout, 'Signed (Authenticode, SHA-256, NOT timestamped): kerio-dcc.exe and the MSI.');
  t.notMatch(run.stdout + run.stderr, password, 'the password is never printed');
  const check = await exec('sha256sum', ['-c', 'SHA256SUMS'], { cwd: out });
  t.equal(check.code, 0, 'SHA256SUMS matches the signed files');

  const fromZip = path.join(dir, 'zip-kerio-dcc.exe');
  await writeFile(fromZip, (await exec('unzip', ['-p', path.join(out, NAMES.zip), 'kerio-dcc.exe'])).bytes);
  const extracted = path.join(dir, 'msi');
  const msiExtract = await exec('msiextract', ['-C', extracted, path.join(out, NAMES.msi)]);
  t.equal(msiExtract.code, 0, 'msiextract reads the signed MSI', { stderr: msiExtract.stderr });
  // msiextract prints each file it wrote, relative to -C (for this MSI: kerio-dcc/kerio-dcc.exe).
  const listed = msiExtract.stdout.split('\n').filter((l) => l.endsWith('kerio-dcc.exe'));
  t.same(listed.length, 1, 'the MSI holds one kerio-dcc.exe', { stdout: msiExtract.stdout });
  const fromMsi = path.join(extracted, listed[0] ?? 'kerio-dcc.exe');
  t.ok((await readFile(fromMsi)).equals(await readFile(fromZip)), 'the MSI installs the same signed exe the zip holds');

  const verify = (file: string) => exec('osslsigncode', ['verify', '-CAfile', signer.ca, '-in', file]);
  for (const [what, file] of [
    ['the exe', fromZip],
    ['the MSI', path.join(out, NAMES.msi)],
  ] as const) {
    const ok = await verify(file);
    t.equal(ok.code, 0, `${what}'s signature verifies against the test CA`, { stdout: ok.stdout, stderr: ok.stderr });
    t.match(ok.stdout, /Message digest algorithm\s*:\s*SHA256/i, `${what} is signed with SHA-256`);
    // One byte changed in the middle of the file (program code in the exe, the cabinet in the MSI).
    const tampered = path.join(dir, `tampered-${path.basename(file)}`);
    const bytes = await readFile(file);
    bytes[bytes.length >> 1] ^= 0x01;
    await writeFile(tampered, bytes);
    const bad = await verify(tampered);
    t.not(bad.code, 0, `${what} with one byte changed fails verification`, { stdout: bad.stdout });
  }
  const unsigned = await verify(EXE);
  t.not(unsigned.code, 0, 'the unsigned build does not verify (the check can fail)');
});

t.test('a wrong PFX password fails the release, and says so without printing it', { skip: signSkip ?? false }, async (t) => {
  const dir = await tempDir(t, 'kerio-dcc-sign-');
  const signer = await makeSigner(dir, 'right password');
  const out = path.join(dir, 'release');
  const run = await runRelease(['--exe', EXE, '--out', out], { KERIO_DCC_SIGN_PFX: signer.pfx, KERIO_DCC_SIGN_PASSWORD: 'wrong password' });
  t.equal(run.code, 1, 'release exits 1');
  t.match(run.stderr, /Signing kerio-dcc\.exe \(osslsigncode\) failed/);
  t.notMatch(run.stdout + run.stderr, /wrong password|right password/, 'neither password is printed');
  await t.rejects(stat(out), { code: 'ENOENT' }, 'no release folder was written');
});

t.test('npm pack makes a lean package that installs into an empty prefix and runs', async (t) => {
  const dir = await tempDir(t, 'kerio-dcc-pack-');
  // A copy of the project without dist/: prepack must build it, and it never rewrites the
  // dist/ that other tests run at the same moment. An exe and its build folder are put where
  // the exe build leaves them, to show they are left out even when present.
  const project = await tempDir(t, 'kerio-dcc-pack-src-');
  for (const name of ['bin', 'src', 'templates', 'package.json', 'package-lock.json', 'tsconfig.json', 'README.md', 'CHANGELOG.md', 'LICENSE']) {
    await cp(path.join(PROJECT, name), path.join(project, name), { recursive: true });
  }
  await symlink(path.join(PROJECT, 'node_modules'), path.join(project, 'node_modules'), 'dir');
  await mkdir(path.join(project, 'dist', 'exe-build'), { recursive: true });
  await writeFile(path.join(project, 'dist', 'kerio-dcc.exe'), 'MZ stand-in for the exe\n');
  await writeFile(path.join(project, 'dist', 'exe-build', 'bundle.cjs'), '// stand-in for the exe build folder\n');
  const pack = await exec('npm', ['pack', '--json', '--pack-destination', dir], { cwd: project });
  t.equal(pack.code, 0, 'npm pack exits 0', { stderr: pack.stderr });
  const [report] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as { filename: string; size: number; files: { path: string }[] }[];
  const files = report!.files.map((f) => f.path).sort();
  t.same(
    [...new Set(files.map((f) => f.split('/')[0]))].sort(),
    ['CHANGELOG.md', 'LICENSE', 'README.md', 'bin', 'dist', 'package.json', 'templates'],
    'only what runs, and the documents',
  );
  t.notOk(
    files.some((f) => /^dist\/(kerio-dcc\.exe|exe-build\/)/.test(f)),
    'no exe, no exe build folder',
    { files: files.filter((f) => f.startsWith('dist/kerio-dcc') || f.startsWith('dist/exe-build')) },
  );
  for (const needed of ['bin/kerio-dcc.js', 'dist/cli/main.js', 'templates/answers.ini']) t.ok(files.includes(needed), `${needed} is in the package`);
  t.ok(report!.size < 300 * 1024, `the package is under 300 KB (${(report!.size / 1024).toFixed(0)} KB)`);

  const prefix = path.join(dir, 'prefix');
  const tarball = path.join(dir, report!.filename);
  const install = await exec('npm', ['install', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--omit=dev', tarball]);
  t.equal(install.code, 0, 'npm install of the tarball exits 0', { stderr: install.stderr });
  const bin = path.join(prefix, 'node_modules', '.bin', 'kerio-dcc');
  const help = await exec(bin, ['--help'], { cwd: dir });
  t.equal(help.code, 0, 'kerio-dcc --help exits 0', { stderr: help.stderr });
  t.match(help.stdout, /Usage: kerio-dcc <command>/);
  // The demo leaves its image for the user to look at: in this test's temp folder.
  const demo = await exec(bin, ['demo', '--json'], { cwd: dir, env: { TMPDIR: dir } });
  t.equal(demo.code, 0, 'kerio-dcc demo exits 0', { stderr: demo.stderr });
  t.equal(JSON.parse(demo.stdout).ok, true, 'and reports ok');
});
