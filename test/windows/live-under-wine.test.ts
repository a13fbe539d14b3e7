// The live Windows path for real: kerio-dcc.exe WITHOUT --simulate under Wine, through the live
// command runner, starting sc.exe, netsh.exe, net.exe, powershell.exe and icacls.exe as real
// Windows processes with Windows command-line quoting. Those tools are the stand-ins of
// test/helpers/windows/standins.ts (Wine's own are stubs): real Windows programs that print the
// recorded outputs in the prefix's OEM code page, from the same handlers as --simulate.
// Prefixes in four locales: Czech (852) runs the whole life cycle with Kerio in C:\Služby;
// English (437), German (850, German netsh words, netsh as the firewall reader) and Russian
// (866) run install and status. Run with `npm run test:windows`.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { decodePowershell } from '../../src/windows/powershell.js';
import { CLIENT_ID, CLIENT_PASSWORD, SERVER_ID, startDccServer } from '../helpers/dccServer.js';
import { linuxDcc, linuxDccMissing, windowsDcc, windowsDccMissing } from '../helpers/realDcc.js';
import { stopwatch } from '../helpers/stopwatch.js';
import { buildExeIfNeeded } from '../helpers/windows/exe.js';
import { editStandinState, ENGLISH, liveServer, seen, SERVICE, standinState, WORK, type LiveServer, type Locale } from '../helpers/windows/liveServer.js';
import { buildStandin, standinMissingReason } from '../helpers/windows/standins.js';
import { wineMissingReason } from '../helpers/windows/wine.js';

const OUT_RULE = 'Kerio DCC (UDP 6277 out)';
const IN_RULE = 'Kerio DCC (UDP 6277 in)';
const WOW64_PROFILE = 'C:\\Windows\\SysWOW64\\config\\systemprofile\\.spamassassin';
const DCC_DIR = 'C:\\Program Files\\DCC Test';
const BRAND = 'KerioLiveTest';

const CZECH: Locale = { name: 'Czech', locale: 'cs_CZ.UTF-8', codePage: 852, kerio: 'C:\\Služby\\Kerio\\MailServer', language: 'en', netSecurity: true };
const OTHERS: Locale[] = [
  ENGLISH,
  { name: 'German', locale: 'de_DE.UTF-8', codePage: 850, kerio: 'C:\\Program Files (x86)\\Kerio\\MailServer', language: 'de', netSecurity: false },
  { name: 'Russian', locale: 'ru_RU.UTF-8', codePage: 866, kerio: 'C:\\Program Files (x86)\\Kerio\\MailServer', language: 'en', netSecurity: true },
];

t.setTimeout(15 * 60 * 1000);
const skipReason = wineMissingReason() ?? standinMissingReason() ?? buildExeIfNeeded();
if (skipReason !== null) {
  t.plan(0, skipReason);
} else {
  const { timings, timed } = stopwatch();
  t.teardown(() => t.comment(`timings: ${timings.join('; ')}`));
  const standin = await timed('stand-in (built or cached)', () => buildStandin());
  await t.test(`${CZECH.name} prefix (code page ${CZECH.codePage}): the whole life cycle`, async (t) => {
    const server = await timed(`${CZECH.name} prefix`, () => liveServer(t, CZECH, standin));
    await timed(`${CZECH.name} runs`, () => lifeCycle(t, server));
  });
  for (const locale of OTHERS) {
    await t.test(`${locale.name} prefix (code page ${locale.codePage}): install and status`, async (t) => {
      const server = await timed(`${locale.name} prefix`, () => liveServer(t, locale, standin));
      await timed(`${locale.name} runs`, () => installAndStatus(t, server, { again: false }));
    });
  }
}

/** Every file of a folder, by name, with the sha256 of its bytes. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort())
    out[name] = createHash('sha256')
      .update(await readFile(path.join(dir, name)))
      .digest('hex');
  return out;
}

/** Install (and a second install that changes nothing), then status: in every locale. */
async function installAndStatus(t: Test, server: LiveServer, { again }: { again: boolean }): Promise<void> {
  const from = server.broker.calls.length;
  const install = await server.exe(['install', '--yes', '--json']);
  t.equal(install.errorlevel, 0, 'install: %ERRORLEVEL% is 0', seen(install));
  t.equal(install.json?.simulated, false, 'the live runner ran real Windows processes');
  t.match(
    install.json?.steps?.find((s: { id: string }) => s.id === 'locate')?.detail,
    `(install folder ${server.locale.kerio}:`,
    `Kerio found at ${server.locale.kerio}, decoded from code page ${server.locale.codePage}`,
  );
  t.same(
    (await standinState(server)).firewall.map((r) => [r.name, r.direction]),
    [
      [OUT_RULE, 'Out'],
      [IN_RULE, 'In'],
    ],
    'the two rules, names with spaces and parentheses intact',
  );
  const adds = server.broker.callsOf('netsh.exe', from).filter((c) => c.args[2] === 'add');
  t.same(
    adds.map((c) => c.args[4]),
    [`name=${OUT_RULE}`, `name=${IN_RULE}`],
    'netsh received each name as one argument',
  );
  t.ok(
    adds.length === 2 && adds.every((c) => c.commandLine.includes(`"name=${c.args[4]!.slice(5)}"`)),
    'quoted on the command line as Windows programs expect',
    { lines: adds.map((c) => c.commandLine) },
  );
  const readers = server.broker.calls
    .slice(from)
    .filter((c) =>
      server.locale.netSecurity
        ? c.tool === 'powershell.exe' && decodePowershell(c.args)?.kind === 'firewall-rules'
        : c.tool === 'netsh.exe' && c.args[2] === 'show',
    );
  t.ok(readers.length > 0, server.locale.netSecurity ? 'rules were read with Get-NetFirewallRule' : 'rules were read with netsh show (the fallback)');

  if (again) {
    const second = await server.exe(['install', '--yes', '--json']);
    t.equal(second.errorlevel, 0, 'second install: %ERRORLEVEL% is 0', seen(second));
    t.equal(second.json?.changed, false, 'the second install changes nothing: the rules read back as wanted');
    t.equal((await standinState(server)).firewall.length, 2, 'and adds no duplicate rule');
  }

  const status = await server.exe(['status', '--json']);
  t.equal(status.errorlevel, 0, 'status: %ERRORLEVEL% is 0, every check holds', seen(status));
  t.match(status.json?.data?.checks?.find((c: { id: string }) => c.id === 'firewall')?.detail, 'present and correct', 'the rules read back as wanted');
}

/**
 * The real DCC client (cross-built from the unchanged upstream source) in the prefix, with a map
 * made by the real cdcc.exe listing only a private dccd on 127.0.0.1, and an answers file naming
 * them; null when DCC cannot be built here (the doctor test then skips).
 */
async function useRealDcc(t: Test, server: LiveServer): Promise<string | null> {
  const missing = linuxDccMissing() || windowsDccMissing();
  if (missing) return missing;
  const [linux, windows] = await Promise.all([linuxDcc(), windowsDcc()]);
  const dccd = await startDccServer(t, linux, { brand: BRAND });
  const home = `${DCC_DIR}\\home`;
  for (const [from, to] of [
    [windows.dccproc, `${DCC_DIR}\\dccproc.exe`],
    [windows.cdcc, `${DCC_DIR}\\cdcc.exe`],
  ] as const) {
    const host = await server.wine.hostPath(to);
    await mkdir(path.dirname(host), { recursive: true });
    await copyFile(from, host);
  }
  await mkdir(await server.wine.hostPath(home), { recursive: true });
  const made = await server.wine.run([
    `${DCC_DIR}\\cdcc.exe`,
    '-h',
    home,
    'new map',
    'IPv6 off',
    `add 127.0.0.1,${dccd.port} RTT+0 ms ${CLIENT_ID} ${CLIENT_PASSWORD}`,
  ]);
  if (made.exitCode !== 0) throw new Error(`cdcc.exe new map failed (exit ${made.exitCode}): ${made.stdout}${made.stderr}`);
  const answers = `${WORK}\\answers.ini`;
  await writeFile(await server.wine.hostPath(answers), ['[dcc]', `home = ${home}`, `dccproc = ${DCC_DIR}\\dccproc.exe`, ''].join('\r\n'));
  server.answers = answers;
  return null;
}

/** The Czech server: every command, the refusals and the failed start. */
async function lifeCycle(t: Test, server: LiveServer): Promise<void> {
  const noDcc = await useRealDcc(t, server);
  const rulesBefore = await snapshot(await server.wine.hostPath(server.rules));

  await t.test('not elevated: install refuses with exit 3 before any change', async (t) => {
    await editStandinState(server, (s) => void (s.elevated = false));
    t.teardown(() => editStandinState(server, (s) => void (s.elevated = true)));
    const from = server.broker.calls.length;
    const run = await server.exe(['install', '--yes', '--json']);
    t.equal(run.errorlevel, 3, '%ERRORLEVEL% is 3', seen(run));
    // On a first run the state folder is made first, and Windows refuses an owner of Administrators to a
    // process that is not elevated: that is the refusal here (after a first run it is `net session`'s).
    t.match(run.json?.error?.message, /administrators/i);
    t.same(
      server.broker.calls
        .slice(from)
        .filter((c) => (c.tool === 'netsh.exe' && c.args[2] !== 'show') || (c.tool === 'sc.exe' && /^(stop|start)$/.test(c.args[0] ?? ''))),
      [],
      'no changing command ran',
    );
    t.same(await snapshot(await server.wine.hostPath(server.rules)), rulesBefore, 'the rules folder is untouched');
  });

  await t.test('install, second install and status', (t) => installAndStatus(t, server, { again: true }));

  await t.test('doctor asks the private DCC server through the real dccproc.exe: exit 0', { skip: noDcc ?? false }, async (t) => {
    const run = await server.exe(['doctor', '--json']);
    t.equal(run.errorlevel, 0, '%ERRORLEVEL% is 0', seen(run));
    t.same(
      // watch is not registered here: it reports "not watched" (null), which is no drift.
      run.json?.data?.checks?.filter((c: { id: string; ok: boolean }) => c.ok !== true && !(c.id === 'watch' && c.ok === null)),
      [],
      'every check holds, the service ones through sc.exe',
    );
    t.same(run.json?.data?.dccproc, { version: '1.3.158', brand: BRAND, serverId: SERVER_ID }, "the real server's answer");
  });

  await t.test('the restart went STOP_PENDING -> STOPPED -> START_PENDING -> RUNNING through sc.exe', async (t) => {
    const sc = server.broker.callsOf('sc.exe').map((c) => c.args.join(' '));
    const stop = sc.indexOf(`stop ${SERVICE}`);
    const start = sc.indexOf(`start ${SERVICE}`);
    t.ok(stop >= 0 && start > stop, 'stop, then start', { sc });
    t.ok(sc.slice(stop + 1, start).includes(`query ${SERVICE}`), 'polled until stopped before starting');
    t.equal((await standinState(server)).services[SERVICE]?.state, 4, 'RUNNING at the end');
    t.ok(existsSync(await server.wine.hostPath(`${WOW64_PROFILE}\\map`)), 'the map is in the 32-bit profile');
  });

  await t.test('rollback restores the rules folder byte for byte and removes the rules', async (t) => {
    const run = await server.exe(['rollback', '--yes', '--json']);
    t.equal(run.errorlevel, 0, '%ERRORLEVEL% is 0', seen(run));
    t.same(await snapshot(await server.wine.hostPath(server.rules)), rulesBefore);
    t.same((await standinState(server)).firewall, [], 'the rules install added are gone');
    const status = await server.exe(['status', '--json']);
    t.equal(status.errorlevel, 6, 'status finds DCC off: exit 6', seen(status));
  });

  await t.test('a service that will not start: install restores everything and exits 4', async (t) => {
    await editStandinState(server, (s) => void (s.services[SERVICE]!.startFails = 1));
    const run = await server.exe(['install', '--yes', '--json']);
    t.equal(run.errorlevel, 4, '%ERRORLEVEL% is 4', seen(run));
    t.match(run.json?.error?.message, /Everything this run changed was restored/);
    t.same(await snapshot(await server.wine.hostPath(server.rules)), rulesBefore, 'the rules folder is as before');
    t.same((await standinState(server)).firewall, [], 'no rule left behind');
    t.equal((await standinState(server)).services[SERVICE]?.state, 4, 'Kerio runs on the old settings');
  });

  await t.test('install, then uninstall removes the block and the rules', async (t) => {
    const install = await server.exe(['install', '--yes', '--json']);
    t.equal(install.errorlevel, 0, 'install exits 0', seen(install));
    const run = await server.exe(['uninstall', '--yes', '--json']);
    t.equal(run.errorlevel, 0, '%ERRORLEVEL% is 0', seen(run));
    t.same((await standinState(server)).firewall, [], 'both rules deleted by name');
    const deletes = server.broker
      .callsOf('netsh.exe')
      .filter((c) => c.args[2] === 'delete')
      .map((c) => c.args[4]);
    t.ok(deletes.includes(`name=${OUT_RULE}`) && deletes.includes(`name=${IN_RULE}`), 'netsh delete received the exact names', { deletes });
    const status = await server.exe(['status', '--json']);
    t.equal(status.errorlevel, 6, 'status finds DCC off: exit 6', seen(status));
  });
}
