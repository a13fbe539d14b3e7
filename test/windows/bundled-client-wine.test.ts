// [dcc] client = bundled on the live Windows path under Wine, from a bare prefix with no C:\sa:
// kerio-dcc.exe WITHOUT --simulate, with the DCC client package beside it (C:\Program
// Files\kerio-dcc\dcc\, as the MSI lays it out), installs the real dccproc.exe and cdcc.exe, makes
// the map with the real cdcc.exe (pointed at the private dccd on 127.0.0.1) and patches the rules;
// doctor gets the real answer; rollback takes it all out again. sc, netsh, net, icacls, schtasks,
// eventcreate and PowerShell are the stand-ins of test/helpers/windows/standins.ts (Wine's own
// are stubs); dccproc.exe and cdcc.exe are DCC's own programs, run by Wine.
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { SAFE_FOLDER_SDDL } from '../../src/windows/acl.js';
import { hashTree } from '../helpers/cli.js';
import { mapServers, SERVER_ID, startDccServer } from '../helpers/dccServer.js';
import { linuxDcc, linuxDccMissing, windowsDcc, windowsDccMissing } from '../helpers/realDcc.js';
import { stopwatch } from '../helpers/stopwatch.js';
import { buildExeIfNeeded } from '../helpers/windows/exe.js';
import { ENGLISH, liveServer, seen, standinState, TOOL_DIR, WORK } from '../helpers/windows/liveServer.js';
import { buildStandin, standinMissingReason } from '../helpers/windows/standins.js';
import { wineMissingReason } from '../helpers/windows/wine.js';

const ANSWERS = `${WORK}\\answers.ini`;
const BRAND = 'KerioBundledWine';

t.setTimeout(15 * 60 * 1000);
const skipReason = wineMissingReason() ?? standinMissingReason() ?? (linuxDccMissing() || windowsDccMissing() || null) ?? buildExeIfNeeded();
if (skipReason !== null) t.plan(0, skipReason);
else await t.test('a bare English prefix, the client bundled beside kerio-dcc.exe', (t) => bundledUnderWine(t));

async function bundledUnderWine(t: Test): Promise<void> {
  const { timings, timed } = stopwatch();
  t.teardown(() => t.comment(`timings: ${timings.join('; ')}`));
  const [linux, windows, standin] = await timed('real DCC and the stand-in (built or cached)', () => Promise.all([linuxDcc(), windowsDcc(), buildStandin()]));
  const server = await timed('prefix with Kerio and the stand-ins', () => liveServer(t, ENGLISH, standin));
  const { wine } = server;
  const dccd = await timed('start dccd', () => startDccServer(t, linux, { brand: BRAND }));
  const sa = path.join(wine.driveC, 'sa');
  await timed('no C:\\sa; the dcc folder beside kerio-dcc.exe', async () => {
    await rm(sa, { recursive: true, force: true });
    for (const name of ['dccproc.exe', 'cdcc.exe', 'LICENSE', 'BUILD.txt']) {
      const to = await wine.hostPath(`${TOOL_DIR}\\dcc\\${name}`);
      await mkdir(path.dirname(to), { recursive: true });
      await copyFile(path.join(windows.dir, name), to);
    }
    await writeFile(
      await wine.hostPath(ANSWERS),
      ['[dcc]', 'client = bundled', 'accept_license = yes', `servers[] = 127.0.0.1,${dccd.port} RTT+0 ms anon`, ''].join('\r\n'),
    );
  });
  server.answers = ANSWERS;
  const kerio = await wine.hostPath(server.locale.kerio);
  const profiles = path.join(wine.driveC, 'windows', 'syswow64', 'config');
  const before = { kerio: await hashTree(kerio), profiles: await hashTree(profiles) };

  await t.test('install places the client, makes the map with the real cdcc.exe and patches the rules', async (t) => {
    t.notOk(existsSync(sa), 'a bare prefix: no C:\\sa');
    const from = server.broker.calls.length;
    const install = await timed('install', () => server.exe(['install', '--yes', '--json']));
    t.equal(install.errorlevel, 0, 'install: %ERRORLEVEL% is 0', seen(install));
    t.equal(install.json?.simulated, false, 'the live runner ran real Windows processes');
    for (const name of ['dccproc.exe', 'cdcc.exe']) {
      t.ok((await readFile(path.join(sa, name))).equals(await readFile(path.join(windows.dir, name))), `C:\\sa\\${name} is the bundled one`);
    }
    t.same((await standinState(server)).acls?.['c:\\sa'], { sddl: SAFE_FOLDER_SDDL }, 'C:\\sa was created admin-only, through PowerShell');
    const cdcc = (install.json?.commands ?? []).filter((c: { program: string }) => /cdcc\.exe$/i.test(c.program));
    t.same(
      cdcc.map((c: { program: string; simulated: boolean; exitCode: number }) => [c.program, c.simulated, c.exitCode]),
      [[`${TOOL_DIR}\\dcc\\cdcc.exe`, false, 0]],
      'the bundled cdcc.exe made the map, as a Windows process',
    );
    t.same(
      server.broker.calls.slice(from).filter((c) => /cdcc|dccproc/i.test(c.tool)),
      [],
      'no stand-in answered for DCC: its programs are the real ones',
    );
    t.ok(
      server.broker.calls.slice(from).some((c) => c.tool === 'sc.exe' && c.args[0] === 'start'),
      'Kerio was restarted through sc.exe',
    );
    // Read with DCC's Linux cdcc, which uses only a private map (clntlib/lock_open.c; the Windows build does not check).
    await chmod(path.join(sa, 'etc', 'dcc', 'map'), 0o600);
    const { entries, info } = await mapServers(linux, path.join(sa, 'etc', 'dcc'));
    t.same(entries, [`127.0.0.1,${dccd.port}`], `the map lists exactly the configured server\n${info}`);
    const localCf = await readFile(path.join(kerio, 'plugins', 'spamassassin', 'rules', 'local.cf'), 'latin1');
    t.match(localCf, /^dcc_home C:\\sa\\etc\\dcc\r$/m);
    t.match(localCf, /^dcc_path C:\\sa\\dccproc\.exe\r$/m);

    const again = await timed('second install', () => server.exe(['install', '--yes', '--json']));
    t.equal(again.errorlevel, 0, 'second install: %ERRORLEVEL% is 0', seen(again));
    t.equal(again.json?.changed, false, 'the second install changes nothing');
  });

  await t.test('doctor gets the real answer through the bundled dccproc.exe, and cdcc.exe reads the map', async (t) => {
    const run = await timed('doctor', () => server.exe(['doctor', '--json']));
    t.equal(run.errorlevel, 0, 'doctor: %ERRORLEVEL% is 0', seen(run));
    t.equal(run.json?.simulated, false, 'through the live path');
    t.same(
      // watch is not registered here: it reports "not watched" (null), which is no drift.
      run.json?.data?.checks?.filter((c: { id: string; ok: boolean }) => c.ok !== true && !(c.id === 'watch' && c.ok === null)),
      [],
      'every check holds, the service ones through sc.exe',
    );
    t.same(run.json?.data?.dccproc, { version: '1.3.158', brand: BRAND, serverId: SERVER_ID }, 'the private server answered');
    t.match(
      run.json?.data?.checks?.find((c: { id: string }) => c.id === 'dcc-client-map'),
      { ok: true },
      'the map lists the configured servers (cdcc info)',
    );
  });

  await t.test('rollback removes the client and map it added: byte-identical to before', async (t) => {
    const run = await timed('rollback', () => server.exe(['rollback', '--yes', '--json']));
    t.equal(run.errorlevel, 0, 'rollback: %ERRORLEVEL% is 0', seen(run));
    t.notOk(existsSync(sa), 'C:\\sa is gone, with the map (rewritten by dccproc since) and the folders it added');
    t.same(await hashTree(kerio), before.kerio, 'Kerio folder byte-identical to before');
    t.same(await hashTree(profiles), before.profiles, 'profile folders byte-identical to before');
    t.same((await standinState(server)).firewall, [], 'the firewall rules install added are gone');
    const status = await server.exe(['status', '--json']);
    t.equal(status.errorlevel, 6, 'status finds DCC off: exit 6', seen(status));
  });
}
