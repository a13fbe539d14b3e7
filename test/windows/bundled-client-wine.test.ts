// [dcc] client = bundled under Wine, from a bare prefix with no C:\sa: kerio-dcc.exe with the DCC
// client package beside it (C:\Program Files\kerio-dcc\dcc\, as the MSI lays it out) installs the
// real dccproc.exe and cdcc.exe, makes the map with the real cdcc.exe (pointed at the private dccd
// on 127.0.0.1), patches the rules; doctor gets the real answer; rollback takes it all out again.
// --simulate: Wine's sc.exe is a stub (no live path under Wine yet), so sc, netsh, net and PowerShell
// are simulated, while dccproc.exe and cdcc.exe run for real (the files are real).
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { buildImage } from '../../src/demo/image.js';
import { hashTree } from '../helpers/cli.js';
import { mapServers, SERVER_ID, startDccServer } from '../helpers/dccServer.js';
import { linuxDcc, linuxDccMissing, windowsDcc, windowsDccMissing } from '../helpers/realDcc.js';
import { stopwatch } from '../helpers/stopwatch.js';
import { buildExeIfNeeded, EXE, runExe, type ExeRun } from '../helpers/windows/exe.js';
import { WinePrefix, wineMissingReason } from '../helpers/windows/wine.js';

const TOOL_DIR = 'C:\\Program Files\\kerio-dcc';
const TOOL = `${TOOL_DIR}\\kerio-dcc.exe`;
const WORK = 'C:\\kerio-dcc-bundled';
const ANSWERS = `${WORK}\\answers.ini`;
const BRAND = 'KerioBundledWine';

t.setTimeout(15 * 60 * 1000);
const skipReason = wineMissingReason() ?? (linuxDccMissing() || windowsDccMissing() || null) ?? buildExeIfNeeded();
if (skipReason !== null) t.plan(0, skipReason);
else await bundledUnderWine();

async function bundledUnderWine(): Promise<void> {
  const { timings, timed } = stopwatch();
  const [linux, windows] = await timed('real DCC (built or cached)', () => Promise.all([linuxDcc(), windowsDcc()]));
  const wine = await timed('wine prefix', () => WinePrefix.create());
  t.teardown(async () => {
    await wine.dispose();
    t.comment(`timings: ${timings.join('; ')}`);
  });
  const server = await timed('start dccd', () => startDccServer(t, linux, { brand: BRAND }));
  const staging = await mkdtemp(path.join(os.tmpdir(), 'kerio-dcc-image-'));
  t.teardown(() => rm(staging, { recursive: true, force: true }));
  const image = await timed('lay out Kerio (no DCC) and kerio-dcc.exe with its dcc folder', async () => {
    const image = await buildImage(staging, { windows64: true, kerioBitness: 'x86', eol: 'crlf' });
    await rm(path.join(staging, 'sa'), { recursive: true, force: true });
    await wine.mergeIntoDriveC(staging);
    const files: [string, string][] = [
      [EXE, TOOL],
      ...['dccproc.exe', 'cdcc.exe', 'LICENSE', 'BUILD.txt'].map((n): [string, string] => [path.join(windows.dir, n), `${TOOL_DIR}\\dcc\\${n}`]),
    ];
    for (const [from, to] of files) {
      const host = await wine.hostPath(to);
      await mkdir(path.dirname(host), { recursive: true });
      await copyFile(from, host);
    }
    await mkdir(await wine.hostPath(WORK), { recursive: true });
    await writeFile(
      await wine.hostPath(ANSWERS),
      ['[dcc]', 'client = bundled', 'accept_license = yes', `servers[] = 127.0.0.1,${server.port} RTT+0 ms anon`, ''].join('\r\n'),
    );
    return image;
  });
  const kerio = await wine.hostPath(image.installDir);
  const profiles = path.join(wine.driveC, 'windows', 'syswow64', 'config');
  const sa = path.join(wine.driveC, 'sa');
  const before = { kerio: await hashTree(kerio), profiles: await hashTree(profiles) };

  let runs = 0;
  const exe = (args: string[]): Promise<ExeRun> => runExe(wine, TOOL, WORK, `${WORK}\\run-${++runs}`, args);
  const seen = (run: ExeRun) => ({ stdout: run.stdout, stderr: run.stderr });

  await t.test('install --simulate places the client, makes the map with the real cdcc.exe and patches the rules', async (t) => {
    t.same(Object.keys(await hashTree(sa)), [], 'a bare prefix: no C:\\sa');
    const install = await timed('install', () => exe(['install', '--answers', ANSWERS, '--simulate', '--yes', '--json']));
    t.equal(install.errorlevel, 0, 'install exits 0', seen(install));
    for (const name of ['dccproc.exe', 'cdcc.exe']) {
      t.ok((await readFile(path.join(sa, name))).equals(await readFile(path.join(windows.dir, name))), `C:\\sa\\${name} is the bundled one`);
    }
    const cdcc = (install.json?.commands ?? []).filter((c: { program: string }) => /cdcc\.exe$/i.test(c.program));
    t.same(
      cdcc.map((c: { program: string; simulated: boolean; exitCode: number }) => [c.program, c.simulated, c.exitCode]),
      [[`${TOOL_DIR}\\dcc\\cdcc.exe`, false, 0]],
      'the bundled cdcc.exe made the map, for real',
    );
    // Read with DCC's Linux cdcc, which uses only a private map (clntlib/lock_open.c; the Windows build does not check).
    await chmod(path.join(sa, 'etc', 'dcc', 'map'), 0o600);
    const { entries, info } = await mapServers(linux, path.join(sa, 'etc', 'dcc'));
    t.same(entries, [`127.0.0.1,${server.port}`], `the map lists exactly the configured server\n${info}`);
    const localCf = await readFile(path.join(kerio, 'plugins', 'spamassassin', 'rules', 'local.cf'), 'latin1');
    t.match(localCf, /^dcc_home C:\\sa\\etc\\dcc\r$/m);
    t.match(localCf, /^dcc_path C:\\sa\\dccproc\.exe\r$/m);
  });

  await t.test('doctor --simulate gets the real answer through the bundled dccproc.exe, and cdcc.exe reads the map', async (t) => {
    const run = await timed('doctor', () => exe(['doctor', '--answers', ANSWERS, '--simulate', '--json']));
    t.equal(run.errorlevel, 0, 'doctor exits 0', seen(run));
    t.same(run.json?.data?.dccproc, { version: '1.3.158', brand: BRAND, serverId: SERVER_ID }, 'the private server answered');
    t.match(
      run.json?.data?.checks?.find((c: { id: string }) => c.id === 'dcc-client-map'),
      { ok: true },
      'the map lists the configured servers (cdcc info)',
    );
  });

  await t.test('rollback --simulate removes the client and map it added: byte-identical to before', async (t) => {
    const run = await timed('rollback', () => exe(['rollback', '--answers', ANSWERS, '--simulate', '--yes', '--json']));
    t.equal(run.errorlevel, 0, 'rollback exits 0', seen(run));
    t.notOk(await readFile(path.join(sa, 'dccproc.exe')).catch(() => null), 'C:\\sa\\dccproc.exe is gone');
    t.same(await hashTree(sa).then((h) => Object.keys(h)), [], 'C:\\sa is gone (its map too, rewritten by dccproc since)');
    t.same(await hashTree(kerio), before.kerio, 'Kerio folder byte-identical to before');
    t.same(await hashTree(profiles), before.profiles, 'profile folders byte-identical to before');
  });
}
