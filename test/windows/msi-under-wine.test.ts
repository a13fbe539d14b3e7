// The MSI of `npm run release`, installed, upgraded and removed by Wine's msiexec on a fresh
// Windows 10 prefix, as an administrator's script or GPO would: quietly, with a log.
// The upgrade MSI is the same exe packaged under a higher MSI version (--msi-version): what
// is tested is Windows Installer's upgrade, which looks only at the MSI's version and codes.
import { windowsDcc } from '../helpers/realDcc.js';
import { mkdir, mkdtemp, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { stopwatch } from '../helpers/stopwatch.js';
import { withStateFolderSecured } from '../../src/system/simulated/acl.js';
import { buildImage } from '../../src/demo/image.js';
import { hashTree, jsonOutput } from '../helpers/cli.js';
import { releaseNames, releaseToolsMissing, runRelease, VERSION } from '../helpers/release.js';
import { buildExeIfNeeded, EXE } from '../helpers/windows/exe.js';
import { cmdWord, WinePrefix, wineMissingReason } from '../helpers/windows/wine.js';

const INSTALL_DIR = 'C:\\Program Files\\kerio-dcc';
const WORK = 'C:\\kerio-dcc-msi';
const DATA = 'C:\\ProgramData\\kerio-dcc';
const UNINSTALL_KEY = 'HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall';
const ENVIRONMENT_KEY = 'HKLM\\System\\CurrentControlSet\\Control\\Session Manager\\Environment';
/** msiexec's exit code for a failed install (a launch condition too), as a Unix parent sees it: 1603 in 8 bits. */
const ERROR_INSTALL_FAILURE_UNIX = 1603 % 256;

const [major, minor, patch] = VERSION.split('.').map(Number);
const NEWER = `${major}.${minor}.${patch! + 1}`;

t.setTimeout(20 * 60 * 1000);
const skipReason = wineMissingReason() ?? releaseToolsMissing() ?? buildExeIfNeeded();
if (skipReason !== null) {
  t.plan(0, skipReason);
} else {
  await msiRun();
}

interface Built {
  msi: string;
  productCode: string;
}

async function msiRun(): Promise<void> {
  const { timings, timed } = stopwatch();
  const out = await mkdtemp(path.join(os.tmpdir(), 'kerio-dcc-msi-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));

  const release = async (msiVersion: string): Promise<Built> => {
    const dir = path.join(out, msiVersion);
    const run = await runRelease(['--exe', EXE, '--out', dir, '--msi-version', msiVersion]);
    if (run.code !== 0) throw new Error(`release --msi-version ${msiVersion} failed (exit ${run.code}):\n${run.stderr}`);
    const productCode = /ProductCode (\{[0-9A-F-]{36}\})/.exec(run.stdout)?.[1];
    if (!productCode) throw new Error(`release printed no ProductCode:\n${run.stdout}`);
    return { msi: path.join(dir, releaseNames(msiVersion).msi), productCode };
  };
  const current = await timed(`release ${VERSION}`, () => release(VERSION));
  const newer = await timed(`release ${NEWER}`, () => release(NEWER));

  const wine = await timed('wine prefix (wineboot, Windows 10)', () => WinePrefix.create());
  t.teardown(async () => {
    await wine.dispose();
    t.comment(`timings: ${timings.join('; ')}`);
  });
  await mkdir(await wine.hostPath(WORK), { recursive: true });
  for (const built of [current, newer]) await copyFile(built.msi, await wine.hostPath(`${WORK}\\${path.basename(built.msi)}`));
  const inPrefix = (built: Built) => `${WORK}\\${path.basename(built.msi)}`;

  let steps = 0;
  /** msiexec as a deployment script runs it: quiet, with a verbose log; the log is attached when it fails. */
  const msiexec = async (args: string[]) => {
    const log = `${WORK}\\msiexec-${++steps}.log`;
    const result = await wine.run(['msiexec', ...args, '/qn', '/l*v', log], 600_000);
    const logText = await readFile(await wine.hostPath(log))
      .then((b) => (b[1] === 0 ? b.toString('utf16le') : b.toString('latin1')))
      .catch(() => '');
    return { code: result.exitCode, timedOut: result.timedOut, log: logText, tail: logText.split(/\r?\n/).filter(Boolean).slice(-40).join('\n') };
  };
  /** kerio-dcc started by name from a new cmd.exe in a folder without it: found only through PATH. */
  const viaPath = async (args: string[]) => {
    const base = `${WORK}\\run-${++steps}`;
    await wine.runBatch(`${base}.cmd`, [
      `cd /d ${cmdWord(WORK)}`,
      `${['kerio-dcc', ...args].map(cmdWord).join(' ')} >${cmdWord(`${base}.out`)} 2>${cmdWord(`${base}.err`)}`,
      `>${cmdWord(`${base}.code`)} echo %ERRORLEVEL%`,
    ]);
    const read = async (ext: string) => readFile(await wine.hostPath(`${base}.${ext}`), 'utf8').catch(() => '');
    const stdout = await read('out');
    return { errorlevel: Number((await read('code')).trim()), stdout, stderr: await read('err'), json: jsonOutput(args, stdout) };
  };
  /** Every product registered in Apps & features whose DisplayName is kerio-dcc, by its key name (the ProductCode). */
  const registered = async (): Promise<Record<string, Record<string, string>>> => {
    const query = await wine.run(['reg', 'query', UNINSTALL_KEY, '/s']);
    const keys: Record<string, Record<string, string>> = {};
    let current: Record<string, string> | null = null;
    for (const line of query.stdout.split(/\r?\n/)) {
      const key = /^HKEY_LOCAL_MACHINE\\.+\\Uninstall\\(.+)$/i.exec(line);
      if (key) keys[key[1]!] = current = {};
      const value = /^\s{2,}(\S+)\s+REG_\w+\s+(.*)$/.exec(line);
      if (value && current) current[value[1]!] = value[2]!;
    }
    return Object.fromEntries(Object.entries(keys).filter(([, v]) => v['DisplayName'] === 'kerio-dcc'));
  };
  const systemPath = async (): Promise<string> => {
    const query = await wine.run(['reg', 'query', ENVIRONMENT_KEY, '/v', 'PATH']);
    return /PATH\s+REG_\w+\s+(.*)$/im.exec(query.stdout)?.[1] ?? '';
  };
  const onPath = (value: string) => value.split(';').some((dir) => dir.replace(/\\$/, '').toLowerCase() === INSTALL_DIR.toLowerCase());
  const exeHost = async () => wine.hostPath(`${INSTALL_DIR}\\kerio-dcc.exe`);
  const pathBefore = await systemPath();
  /** C:\\ProgramData\\kerio-dcc after a run made a backup: no install, upgrade or uninstall may change it. */
  let dataBefore: Record<string, string> = {};

  await timed('install, use, upgrade, uninstall', async () => {
    await t.test(`msiexec /i installs kerio-dcc.exe into ${INSTALL_DIR} and puts it on the system PATH`, async (t) => {
      const install = await msiexec(['/i', inPrefix(current)]);
      t.equal(install.code, 0, 'msiexec exits 0', { log: install.tail });
      t.ok((await readFile(await exeHost())).equals(await readFile(EXE)), 'the installed exe is the released one, byte for byte');
      const client = await windowsDcc();
      for (const name of ['dccproc.exe', 'cdcc.exe', 'LICENSE', 'BUILD.txt']) {
        t.ok(
          (await readFile(await wine.hostPath(`${INSTALL_DIR}\\dcc\\${name}`))).equals(await readFile(path.join(client.dir, name))),
          `dcc\\${name} is installed beside it, byte for byte`,
        );
      }
      const after = await systemPath();
      t.ok(onPath(after), `the system PATH holds ${INSTALL_DIR}`, { after });
      t.ok(after.toLowerCase().startsWith(pathBefore.toLowerCase()), 'and keeps what it held before', { before: pathBefore, after });
    });

    await t.test('Apps & features lists kerio-dcc once, with publisher, version and an uninstall command', async (t) => {
      const products = await registered();
      t.same(Object.keys(products), [current.productCode], "one product, under the MSI's ProductCode");
      const entry = products[current.productCode] ?? {};
      t.equal(entry['Publisher'], 'kerio-dcc contributors');
      t.equal(entry['DisplayVersion'], VERSION);
      t.match(entry['UninstallString'], new RegExp(`MsiExec\\.exe /X${current.productCode.replace(/[{}]/g, '\\$&')}`, 'i'));
    });

    await t.test('a new cmd.exe finds kerio-dcc through PATH; a run there keeps its backups in ProgramData', async (t) => {
      const version = await viaPath(['--version']);
      t.equal(version.errorlevel, 0, '%ERRORLEVEL% is 0', { stdout: version.stdout, stderr: version.stderr });
      t.equal(version.stdout.trim(), VERSION);

      // A real install (simulated sc/netsh/net) on a demo Kerio server leaves a backup in C:\ProgramData\kerio-dcc\backups.
      const image = await mkdtemp(path.join(os.tmpdir(), 'kerio-dcc-image-'));
      t.teardown(() => rm(image, { recursive: true, force: true }));
      await buildImage(image, { windows64: true, kerioBitness: 'x86', eol: 'crlf' });
      await wine.mergeIntoDriveC(image);
      const state = await wine.hostPath(`${DATA}\\simulated-system.json`);
      await mkdir(path.dirname(state), { recursive: true });
      const service = { state: 4, binaryPath: '', startName: 'LocalSystem', stopHangs: false, startFails: false };
      // As on a server installed by this version, the state folder is one kerio-dcc secured.
      await writeFile(
        state,
        JSON.stringify(withStateFolderSecured({ schema: 1, elevated: true, language: 'en', services: { KerioMailServer: service }, firewall: [] })),
      );
      const run = await viaPath(['install', '--simulate', '--yes', '--json']);
      t.equal(run.errorlevel, 0, 'kerio-dcc install exits 0', { stdout: run.stdout, stderr: run.stderr });
      t.match(run.json?.backup, /^C:\\ProgramData\\kerio-dcc\\backups\\/i, 'its backup is in C:\\ProgramData\\kerio-dcc\\backups');
      dataBefore = await hashTree(await wine.hostPath(DATA));
      t.ok(
        Object.keys(dataBefore).some((p) => p.startsWith(`backups${path.sep}`) && !p.endsWith(path.sep)),
        'there are backup files to keep',
      );
    });

    await t.test(`installing ${NEWER} upgrades in place: one product, the newer one`, async (t) => {
      const upgrade = await msiexec(['/i', inPrefix(newer)]);
      t.equal(upgrade.code, 0, 'msiexec exits 0', { log: upgrade.tail });
      const products = await registered();
      t.same(Object.keys(products), [newer.productCode], `only ${NEWER}'s ProductCode is registered`);
      t.equal(products[newer.productCode]?.['DisplayVersion'], NEWER);
      t.ok(existsSync(await exeHost()), 'kerio-dcc.exe is still installed');
      const after = await systemPath();
      t.equal(
        after.split(';').filter((d) => d.replace(/\\$/, '').toLowerCase() === INSTALL_DIR.toLowerCase()).length,
        1,
        'PATH holds the folder once, not twice',
        { after },
      );
      const version = await viaPath(['--version']);
      t.equal(version.errorlevel, 0, 'kerio-dcc still runs through PATH', { stdout: version.stdout, stderr: version.stderr });
      t.same(await hashTree(await wine.hostPath(DATA)), dataBefore, `${DATA} is untouched`);
    });

    await t.test('the older MSI is refused once the newer one is installed', async (t) => {
      const downgrade = await msiexec(['/i', inPrefix(current)]);
      t.equal(downgrade.code, ERROR_INSTALL_FAILURE_UNIX, 'msiexec exits 1603 (67 in the 8 bits a Unix parent sees)', { log: downgrade.tail });
      // Wine's log names the newer product found; its text for the launch condition is not logged.
      t.match(downgrade.log, `WIX_DOWNGRADE_DETECTED = ${newer.productCode}`, 'the log says a newer kerio-dcc was found');
      t.same(Object.keys(await registered()), [newer.productCode], 'the newer product is still the one registered');
    });

    await t.test('msiexec /x removes the program and the PATH entry, and keeps C:\\ProgramData\\kerio-dcc byte for byte', async (t) => {
      const remove = await msiexec(['/x', newer.productCode]);
      t.equal(remove.code, 0, 'msiexec exits 0', { log: remove.tail });
      t.notOk(existsSync(await exeHost()), 'kerio-dcc.exe is gone');
      t.notOk(existsSync(await wine.hostPath(INSTALL_DIR)), `${INSTALL_DIR} is gone`);
      const after = await systemPath();
      t.notOk(onPath(after), `the system PATH no longer holds ${INSTALL_DIR}`, { after });
      // Wine's RemoveEnvironmentStrings takes the entry out but leaves its ';' behind (an empty entry, which cmd skips).
      const entries = (value: string) => value.toLowerCase().split(';').filter(Boolean);
      t.same(entries(after), entries(pathBefore), 'PATH holds the entries it held before the install, no more', { before: pathBefore, after });
      t.same(await registered(), {}, 'nothing is left in Apps & features');
      t.same(await hashTree(await wine.hostPath(DATA)), dataBefore, `${DATA} (backups, answers) is byte-identical`);
      // Wine's cmd.exe reports an unknown command with %ERRORLEVEL% 0 and no message, so what counts is that nothing ran.
      const version = await viaPath(['--version']);
      t.notMatch(version.stdout, VERSION, 'a new cmd.exe no longer runs kerio-dcc', { stdout: version.stdout });
    });
  });
}
