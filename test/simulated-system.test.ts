import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { loadSimState, plainServerState, saveSimState, SIMULATED_STATE_PATH, SimulatedRunner, type SimState } from '../src/system/simulated.js';
import { Target } from '../src/target/target.js';
import { isElevated } from '../src/windows/elevation.js';
import { addRuleRequest, dccFirewallRules, FirewallError, planFirewallRules, runFirewallChange } from '../src/windows/firewall.js';
import { makePeStub } from '../src/windows/pe.js';
import { queryServiceConfig, queryServiceState, restartService, ServiceError } from '../src/windows/service.js';
import { systemTool } from '../src/windows/tools.js';

const SERVICE = 'KerioMailServer';
const PREFIX = 'Kerio DCC';
const base = await mkdtemp(path.join(os.tmpdir(), 'kerio-dcc-sim-'));
t.teardown(() => rm(base, { recursive: true, force: true }));

let imageCount = 0;

/** A fresh image with Kerio's mailserver.exe in Program Files (x86), and a runner factory on its state file. */
async function image(edit?: (state: SimState) => void) {
  const root = path.join(base, `image-${++imageCount}`);
  const target = new Target({ root });
  const exeDir = target.toHost('C:\\Program Files (x86)\\Kerio\\MailServer');
  await mkdir(exeDir, { recursive: true });
  await writeFile(path.join(exeDir, 'mailserver.exe'), makePeStub('x86'));
  const statePath = target.toHost(SIMULATED_STATE_PATH);
  if (edit) {
    const state = await plainServerState(target, SERVICE);
    edit(state);
    await saveSimState(statePath, state);
  }
  // A new runner per call stands for a new kerio-dcc process reading the same state file.
  const runner = () => new SimulatedRunner(statePath, () => plainServerState(target, SERVICE));
  return { root, target, statePath, runner };
}

function fakeClock() {
  let now = 0;
  return { now: () => now, sleep: async (ms: number) => void (now += ms) };
}

const sc = (target: Target, ...args: string[]) => ({ program: systemTool(target, 'sc.exe'), args, mutates: false });
const netsh = (target: Target, ...args: string[]) => ({ program: systemTool(target, 'netsh.exe'), args: ['advfirewall', 'firewall', ...args], mutates: false });

t.test('the default simulated server runs Kerio from the mailserver.exe found in the image', async (t) => {
  const { target, runner, statePath } = await image();
  t.same(await queryServiceConfig(runner(), target, SERVICE), {
    name: SERVICE,
    binaryPath: 'C:\\Program Files (x86)\\Kerio\\MailServer\\mailserver.exe',
    startName: 'LocalSystem',
  });
  const qc = await runner().run(sc(target, 'qc', SERVICE));
  t.match(qc.stdout, /BINARY_PATH_NAME {3}: "C:\\Program Files \(x86\)\\Kerio\\MailServer\\mailserver\.exe"\r\n/);
  t.match(qc.stdout, /SERVICE_START_NAME : LocalSystem/);
  t.equal(await queryServiceState(runner(), target, SERVICE), 4);
  t.equal(await isElevated(runner(), target), true);
  t.equal(await loadSimState(statePath), null, 'commands that only read leave no state file behind');
});

t.test('without a mailserver.exe the service is not installed and sc says 1060', async (t) => {
  const target = new Target({ root: path.join(base, 'empty-image') });
  const runner = new SimulatedRunner(target.toHost(SIMULATED_STATE_PATH), () => plainServerState(target, SERVICE));
  t.equal(await queryServiceConfig(runner, target, SERVICE), null);
  const query = await runner.run(sc(target, 'query', SERVICE));
  t.equal(query.exitCode, 1060);
  t.match(query.stdout, /^\[SC\] OpenService FAILED 1060:\r\n\r\nThe specified service does not exist as an installed service\./);
});

t.test('sc stop and start only ask; the next query sees the new state, as on Windows', async (t) => {
  const { target, runner } = await image();
  const stop = await runner().run(sc(target, 'stop', SERVICE));
  t.equal(stop.exitCode, 0);
  t.match(stop.stdout, /STATE {14}: 3 {2}STOP_PENDING/);
  t.equal(await queryServiceState(runner(), target, SERVICE), 1);
  const stopAgain = await runner().run(sc(target, 'stop', SERVICE));
  t.equal(stopAgain.exitCode, 1062);
  t.match(stopAgain.stdout, /\[SC\] ControlService FAILED 1062:/);
  const start = await runner().run(sc(target, 'start', SERVICE));
  t.equal(start.exitCode, 0);
  t.match(start.stdout, /STATE {14}: 2 {2}START_PENDING/);
  t.equal(await queryServiceState(runner(), target, SERVICE), 4);
  const startAgain = await runner().run(sc(target, 'start', SERVICE));
  t.equal(startAgain.exitCode, 1056);
});

t.test('restartService brings the simulated service back to RUNNING', async (t) => {
  const { target, runner, statePath } = await image();
  await restartService(runner(), target, SERVICE, { timeoutMs: 10_000, ...fakeClock() });
  t.equal((await loadSimState(statePath))!.services[SERVICE]!.state, 4);
});

t.test('a simulated stop that hangs ends in a timeout naming STOP_PENDING', async (t) => {
  const { target, runner } = await image((s) => (s.services[SERVICE]!.stopHangs = true));
  await t.rejects(restartService(runner(), target, SERVICE, { timeoutMs: 120_000, ...fakeClock() }), {
    message: /still STOP_PENDING \(3\) after 120 s/,
  });
});

t.test('a simulated start failure is seen as the service stopping again with 1067', async (t) => {
  const { target, runner } = await image((s) => (s.services[SERVICE]!.startFails = true));
  const error = await restartService(runner(), target, SERVICE, { timeoutMs: 10_000, ...fakeClock() }).catch((e: unknown) => e);
  t.type(error, ServiceError);
  t.match((error as ServiceError).message, /stopped again while starting \(WIN32_EXIT_CODE 1067\)/);
});

t.test('firewall rules round-trip through separate runs on one state file', async (t) => {
  const { target, runner, statePath } = await image();
  const first = await planFirewallRules(runner(), target, PREFIX);
  t.same(
    first.map((p) => p.verdict),
    ['add', 'add'],
  );
  for (const request of first.flatMap((p) => p.requests)) await runFirewallChange(runner(), request);
  const second = await planFirewallRules(runner(), target, PREFIX);
  t.same(
    second.map((p) => p.verdict),
    ['unchanged', 'unchanged'],
    'a second run finds both rules as wanted',
  );
  t.same(
    second.map((p) => p.found.length),
    [1, 1],
  );
  const stored = (await loadSimState(statePath))!.firewall;
  t.match(stored, [
    { name: 'Kerio DCC (UDP 6277 out)', direction: 'Out', protocol: 'UDP', localPort: '1024-65535', remotePort: '6277', profiles: 'Domain,Private,Public' },
    { name: 'Kerio DCC (UDP 6277 in)', direction: 'In', protocol: 'UDP', localPort: '1024-65535', remotePort: '6277' },
  ]);
  const leftovers = (await readdir(path.dirname(statePath))).filter((f) => f.endsWith('.tmp'));
  t.same(leftovers, [], 'the state file is replaced atomically, no temp file stays');
});

t.test('a duplicated rule is planned as a replace and ends as one rule', async (t) => {
  const { target, runner, statePath } = await image();
  const add = addRuleRequest(target, dccFirewallRules(PREFIX)[0]!);
  await runFirewallChange(runner(), add);
  await runFirewallChange(runner(), add);
  t.equal((await loadSimState(statePath))!.firewall.length, 2, 'Windows allows two rules with one name');
  const plans = await planFirewallRules(runner(), target, PREFIX);
  t.same(
    plans.map((p) => p.verdict),
    ['replace', 'add'],
  );
  const deleted = await runner().run(plans[0]!.requests[0]!);
  t.equal(deleted.stdout, '\r\nDeleted 2 rule(s).\r\nOk.\r\n\r\n');
  for (const request of [...plans[0]!.requests.slice(1), ...plans[1]!.requests]) await runFirewallChange(runner(), request);
  t.same(
    (await planFirewallRules(runner(), target, PREFIX)).map((p) => p.verdict),
    ['unchanged', 'unchanged'],
  );
  t.equal((await loadSimState(statePath))!.firewall.length, 2);
});

t.test('deleting a rule that does not exist answers exit 1', async (t) => {
  const { target, runner } = await image();
  const result = await runner().run(netsh(target, 'delete', 'rule', 'name=nothing here'));
  t.equal(result.exitCode, 1);
  t.equal(result.stdout, '\r\nNo rules match the specified criteria.\r\n\r\n');
});

t.test('a German system is handled by exit codes and positions only', async (t) => {
  const { target, runner } = await image((s) => (s.language = 'de'));
  const none = await runner().run(netsh(target, 'show', 'rule', 'name=Kerio DCC (UDP 6277 out)'));
  t.equal(none.exitCode, 1);
  t.match(none.stdout, /Keine Regeln entsprechen den angegebenen Kriterien\./);
  const plans = await planFirewallRules(runner(), target, PREFIX);
  t.same(
    plans.map((p) => p.verdict),
    ['add', 'add'],
  );
  for (const request of plans.flatMap((p) => p.requests)) await runFirewallChange(runner(), request);
  const shown = await runner().run(netsh(target, 'show', 'rule', 'name=Kerio DCC (UDP 6277 in)'));
  t.match(shown.stdout, /Regelname: +Kerio DCC \(UDP 6277 in\)\r\n-{70}\r\nAktiviert: +Ja\r\nRichtung: +Eingehend/);
  const again = await planFirewallRules(runner(), target, PREFIX);
  t.same(
    again.map((p) => p.verdict),
    ['unchanged', 'unchanged'],
  );
  t.same(
    again.flatMap((p) => p.notes),
    [],
  );
});

t.test('a localized word the parser does not know leaves the rule alone and is noted', async (t) => {
  const { target, runner, statePath } = await image();
  for (const request of (await planFirewallRules(runner(), target, PREFIX)).flatMap((p) => p.requests)) {
    await runFirewallChange(runner(), request);
  }
  const state = (await loadSimState(statePath))!;
  state.firewall[1]!.direction = 'Actif';
  await saveSimState(statePath, state);
  const plans = await planFirewallRules(runner(), target, PREFIX);
  t.same(
    plans.map((p) => p.verdict),
    ['unchanged', 'unchanged'],
  );
  t.match(plans[1]!.notes, [/could not read direction "Actif"/]);
});

t.test('without elevation changes fail like on Windows and nothing changes', async (t) => {
  const { target, runner, statePath } = await image((s) => (s.elevated = false));
  const before = await readFile(statePath, 'utf8');
  t.equal(await isElevated(runner(), target), false);
  const net = await runner().run({ program: systemTool(target, 'net.exe'), args: ['session'], mutates: false });
  t.equal(net.exitCode, 2);
  t.match(net.stderr, /System error 5 has occurred\.\r\n\r\nAccess is denied\./);

  const [plan] = await planFirewallRules(runner(), target, PREFIX);
  const refused = await runFirewallChange(runner(), plan!.requests[0]!).catch((e: unknown) => e);
  t.type(refused, FirewallError);
  t.match((refused as FirewallError).message, /requires elevation/);
  t.match((refused as FirewallError).hint, /elevated prompt/);

  await t.rejects(restartService(runner(), target, SERVICE, { timeoutMs: 1000, ...fakeClock() }), { name: 'ServiceError', scExitCode: 5 });
  const stop = await runner().run(sc(target, 'stop', SERVICE));
  t.match(stop.stdout, /^\[SC\] OpenService FAILED 5:/);
  t.equal(await readFile(statePath, 'utf8'), before, 'the state file is untouched');
});

t.test('anything the simulation does not model fails loudly', async (t) => {
  const { target, runner } = await image();
  const unknown = await runner().run({ program: 'C:\\Windows\\System32\\wevtutil.exe', args: ['qe', 'System'], mutates: false });
  t.equal(unknown.exitCode, 9009);
  t.match(unknown.stderr, /is not recognized/);
  const reg = await runner().run({ program: 'C:\\Windows\\System32\\reg.exe', args: ['query', 'HKLM\\SOFTWARE'], mutates: false });
  t.equal(reg.exitCode, 87, 'reg.exe answers only the code page question');
  t.match(reg.stderr, /does not handle: reg\.exe query/);
  const config = await runner().run(sc(target, 'config', SERVICE, 'start=', 'auto'));
  t.equal(config.exitCode, 87);
  t.match(config.stderr, /does not handle: sc\.exe config/);
  const verbose = await runner().run(netsh(target, 'show', 'rule', 'name=x', 'verbose'));
  t.equal(verbose.exitCode, 87, 'never exit 1, which a caller would read as "no rules"');
});

t.test('tool names are matched case-insensitively and netsh keys too', async (t) => {
  const { target, runner } = await image();
  const add = await runner().run({
    program: 'C:\\WINDOWS\\Sysnative\\NETSH.EXE',
    args: [
      'AdvFirewall',
      'Firewall',
      'Add',
      'Rule',
      'Name=odd (name) with spaces',
      'DIR=In',
      'Action=Block',
      'Protocol=TCP',
      'LocalPort=25',
      'Profile=Public',
      'enable=no',
    ],
    mutates: true,
  });
  t.equal(add.exitCode, 0);
  t.equal(add.stdout, 'Ok.\r\n\r\n');
  const shown = await runner().run(netsh(target, 'show', 'rule', 'name=odd (name) with spaces'));
  t.match(shown.stdout, /Rule Name: +odd \(name\) with spaces\r\n/);
  t.match(shown.stdout, /Enabled: +No\r\nDirection: +In\r\nProfiles: +Public\r\n/);
  t.match(shown.stdout, /LocalPort: +25\r\nRemotePort: +Any\r\n/);
  t.match(shown.stdout, /Action: +Block\r\n\r\nOk\.\r\n\r\n$/);
});

t.test('a broken state file is reported with its path, not silently replaced', async (t) => {
  const { target, runner, statePath } = await image();
  await mkdir(path.dirname(statePath), { recursive: true });
  await writeFile(statePath, '{"schema": 2, "elevated": "yes", "services": {}, "firewall": []}');
  await t.rejects(runner().run(sc(target, 'query', SERVICE)), { message: /schema must be 1[\s\S]*elevated must be true or false/ });
  await writeFile(statePath, '{ not json');
  await t.rejects(runner().run(sc(target, 'query', SERVICE)), { message: new RegExp(`${path.basename(statePath)} is not valid JSON`) });
});
