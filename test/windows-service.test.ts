import t from 'tap';
import { Target } from '../src/target/target.js';
import { isElevated } from '../src/windows/elevation.js';
import {
  executableOfCommandLine,
  queryServiceConfig,
  queryServiceState,
  restartService,
  ServiceError,
  ServiceState,
  stateName,
} from '../src/windows/service.js';
import { FakeRunner, type FakeReply, type FakeRow } from './helpers/fakeRunner.js';

const target = new Target({ root: null, systemRoot: 'C:\\Windows' });
const SC = 'C:\\Windows\\System32\\sc.exe';
const NAME = 'KerioMailServer';

function qcOutput(binaryPathName: string, startName = 'LocalSystem'): string {
  return [
    '[SC] QueryServiceConfig SUCCESS',
    '',
    `SERVICE_NAME: ${NAME}`,
    '        TYPE               : 10  WIN32_OWN_PROCESS',
    '        START_TYPE         : 2   AUTO_START',
    '        ERROR_CONTROL      : 1   NORMAL',
    `        BINARY_PATH_NAME   : ${binaryPathName}`,
    '        LOAD_ORDER_GROUP   :',
    '        TAG                : 0',
    '        DISPLAY_NAME       : Kerio Connect',
    '        DEPENDENCIES       :',
    `        SERVICE_START_NAME : ${startName}`,
    '',
  ].join('\r\n');
}

/** `sc query` output; the word after the number is deliberately not what tests rely on. */
function queryOutput(state: number, word = '', win32ExitCode = 0): FakeReply {
  return {
    stdout: [
      '',
      `SERVICE_NAME: ${NAME}`,
      '        TYPE               : 10  WIN32_OWN_PROCESS',
      `        STATE              : ${state}  ${word}`,
      '                                (STOPPABLE, NOT_PAUSABLE, ACCEPTS_SHUTDOWN)',
      `        WIN32_EXIT_CODE    : ${win32ExitCode}  (0x${win32ExitCode.toString(16)})`,
      '        SERVICE_EXIT_CODE  : 0  (0x0)',
      '        CHECKPOINT         : 0x0',
      '        WAIT_HINT          : 0x0',
      '',
    ].join('\r\n'),
  };
}

const scError = (api: string, code: number, text: string): FakeReply => ({ exitCode: code, stdout: `[SC] ${api} FAILED ${code}:\r\n\r\n${text}\r\n\r\n` });
const row = (verb: string, reply: FakeReply | FakeReply[]): FakeRow => ({ program: SC, args: [verb, NAME], reply });

/** A clock that only moves when the code under test sleeps: timeouts are tested in milliseconds. */
function fakeClock() {
  let now = 0;
  return { now: () => now, sleep: async (ms: number) => void (now += ms) };
}

t.test('sc qc gives the executable without quotes or arguments, and the account', async (t) => {
  const cases: Array<[string, string]> = [
    ['"C:\\Program Files (x86)\\Kerio\\MailServer\\mailserver.exe"', 'C:\\Program Files (x86)\\Kerio\\MailServer\\mailserver.exe'],
    ['"C:\\Program Files\\Kerio\\MailServer\\mailserver.exe" -service', 'C:\\Program Files\\Kerio\\MailServer\\mailserver.exe'],
    ['C:\\Program Files\\Kerio\\MailServer\\mailserver.exe -service', 'C:\\Program Files\\Kerio\\MailServer\\mailserver.exe'],
    ['C:\\Kerio\\MailServer\\MAILSERVER.EXE', 'C:\\Kerio\\MailServer\\MAILSERVER.EXE'],
  ];
  for (const [printed, exe] of cases) {
    const runner = new FakeRunner([row('qc', { stdout: qcOutput(printed, '.\\kerio') })]);
    t.same(await queryServiceConfig(runner, target, NAME), { name: NAME, binaryPath: exe, startName: '.\\kerio' }, printed);
  }
  t.equal(executableOfCommandLine(''), null);
});

t.test('a service that does not exist (sc 1060) is null, whatever language the message is in', async (t) => {
  const runner = new FakeRunner([row('qc', scError('OpenService', 1060, 'Der angegebene Dienst ist kein installierter Dienst.'))]);
  t.equal(await queryServiceConfig(runner, target, NAME), null);
  t.equal(runner.calls[0]!.mutates, false);
});

t.test('other sc qc failures throw with sc output', async (t) => {
  const runner = new FakeRunner([row('qc', scError('OpenSCManager', 5, 'Access is denied.'))]);
  await t.rejects(queryServiceConfig(runner, target, NAME), { name: 'ServiceError', scExitCode: 5, message: /Access is denied/ });
});

t.test('the state is the number after STATE, not the word', async (t) => {
  t.equal(await queryServiceState(new FakeRunner([row('query', queryOutput(4, 'WIRD_AUSGEFÜHRT'))]), target, NAME), 4);
  t.equal(await queryServiceState(new FakeRunner([row('query', queryOutput(1))]), target, NAME), 1);
  await t.rejects(queryServiceState(new FakeRunner([row('query', { stdout: 'garbage' })]), target, NAME), /no numeric STATE/);
  await t.rejects(queryServiceState(new FakeRunner([row('query', scError('OpenService', 1060, 'x'))]), target, NAME), { scExitCode: 1060, message: /1060/ });
});

t.test('stateName shows the name administrators know with the number', async (t) => {
  t.same([1, 2, 3, 4, 5, 6, 7].map(stateName), [
    'STOPPED (1)',
    'START_PENDING (2)',
    'STOP_PENDING (3)',
    'RUNNING (4)',
    'CONTINUE_PENDING (5)',
    'PAUSE_PENDING (6)',
    'PAUSED (7)',
  ]);
  t.equal(stateName(ServiceState.running), 'RUNNING (4)', 'the numbers are the ServiceState values');
  t.equal(stateName(9), 'UNKNOWN_STATE (9)');
});

const RUNNING_RESTART: FakeRow[] = [
  row('stop', queryOutput(3, 'STOP_PENDING')),
  row('query', [queryOutput(3), queryOutput(1), queryOutput(2), queryOutput(4)]),
  row('start', queryOutput(2, 'START_PENDING')),
];

t.test('a restart stops, waits for STOPPED, starts and waits for RUNNING', async (t) => {
  const runner = new FakeRunner(RUNNING_RESTART);
  const clock = fakeClock();
  const progress: Array<[number, number]> = [];
  await restartService(runner, target, NAME, { timeoutMs: 120_000, ...clock, onProgress: (s, state) => progress.push([s, state]) });
  t.same(
    runner.calls.map((c) => c.args[0]),
    ['stop', 'query', 'query', 'start', 'query', 'query'],
  );
  t.same(
    runner.calls.map((c) => c.mutates),
    [true, false, false, true, false, false],
  );
  t.same(
    progress,
    [
      [0, 3],
      [0, 2],
    ],
    'each pending state is reported while waiting',
  );
  t.equal(clock.now(), 2000, 'one poll interval per pending answer');
});

t.test('a service that is already stopped is simply started', async (t) => {
  const runner = new FakeRunner([
    row('stop', scError('ControlService', 1062, 'Der Dienst wurde nicht gestartet.')),
    row('query', [queryOutput(1), queryOutput(4)]),
    row('start', queryOutput(2)),
  ]);
  await restartService(runner, target, NAME, { timeoutMs: 10_000, ...fakeClock() });
  t.same(
    runner.calls.map((c) => c.args[0]),
    ['stop', 'query', 'start', 'query'],
  );
});

t.test('a service stuck in STOP_PENDING fails after the timeout and is not started', async (t) => {
  const runner = new FakeRunner([row('stop', queryOutput(3)), row('query', queryOutput(3)), row('start', queryOutput(2))]);
  const clock = fakeClock();
  const error = (await restartService(runner, target, NAME, { timeoutMs: 120_000, pollMs: 1000, ...clock }).catch((e: unknown) => e)) as ServiceError;
  t.type(error, ServiceError);
  t.match(error.message, /still STOP_PENDING \(3\) after 120 s/);
  t.equal(error.state, 3);
  t.equal(runner.countCalls(['start', NAME]), 0, 'a stuck stop is never followed by a start');
  t.equal(runner.countCalls(['query', NAME]), 121, 'polled once a second for 120 s');
  t.equal(clock.now(), 120_000);
});

t.test('Ctrl-C ends the wait for a slow stop at once, without waiting out the timeout or starting the service', async (t) => {
  const runner = new FakeRunner([row('stop', queryOutput(3)), row('query', queryOutput(3)), row('start', queryOutput(2))]);
  const clock = fakeClock();
  let polls = 0;
  const error = (await restartService(runner, target, NAME, { timeoutMs: 120_000, pollMs: 1000, ...clock, shouldStop: () => ++polls > 3 }).catch(
    (e: unknown) => e,
  )) as ServiceError;
  t.type(error, ServiceError);
  t.match(error.message, /interrupted/);
  t.ok(clock.now() < 10_000, `gave up after ${clock.now()} ms, not 120 s`);
  t.equal(runner.countCalls(['start', NAME]), 0);
});

t.test('a stop refused while the service was still starting (1061) is asked again once it runs', async (t) => {
  const runner = new FakeRunner([
    row('stop', [scError('ControlService', 1061, 'The service cannot accept control messages at this time.'), queryOutput(3)]),
    row('query', [queryOutput(4, 'RUNNING'), queryOutput(1, 'STOPPED'), queryOutput(4, 'RUNNING')]),
    row('start', queryOutput(2)),
  ]);
  await restartService(runner, target, NAME, { timeoutMs: 10_000, ...fakeClock() });
  t.equal(runner.countCalls(['stop', NAME]), 2, 'stop was asked again when the service was found RUNNING');
});

t.test('a service stuck in START_PENDING fails after the timeout', async (t) => {
  const runner = new FakeRunner([row('stop', queryOutput(3)), row('query', [queryOutput(1), queryOutput(2)]), row('start', queryOutput(2))]);
  await t.rejects(restartService(runner, target, NAME, { timeoutMs: 30_000, pollMs: 5_000, ...fakeClock() }), {
    message: /still START_PENDING \(2\) after 30 s/,
    state: 2,
  });
});

t.test('a start that sc refuses names its exit code', async (t) => {
  const runner = new FakeRunner([
    row('stop', queryOutput(3)),
    row('query', queryOutput(1)),
    row('start', scError('StartService', 1053, 'The service did not respond to the start or control request in a timely fashion.')),
  ]);
  const error = (await restartService(runner, target, NAME, { timeoutMs: 10_000, ...fakeClock() }).catch((e: unknown) => e)) as ServiceError;
  t.type(error, ServiceError);
  t.equal(error.scExitCode, 1053);
  t.match(error.message, /did not start again: sc\.exe start failed with exit code 1053/);
  t.equal(error.hint, `Start it by hand (sc.exe start ${NAME}) and read the Windows event log for the reason.`);
});

t.test('a service that stops again while starting is reported with its exit code', async (t) => {
  const runner = new FakeRunner([
    row('stop', queryOutput(3)),
    row('query', [queryOutput(1), queryOutput(2), queryOutput(1, '', 1067)]),
    row('start', queryOutput(2)),
  ]);
  await t.rejects(restartService(runner, target, NAME, { timeoutMs: 10_000, ...fakeClock() }), {
    message: /stopped again while starting \(WIN32_EXIT_CODE 1067\)/,
    state: 1,
  });
});

t.test('a service already running again after the stop (1056) counts as started', async (t) => {
  const runner = new FakeRunner([
    row('stop', queryOutput(3)),
    row('query', [queryOutput(1), queryOutput(4)]),
    row('start', scError('StartService', 1056, 'x')),
  ]);
  await restartService(runner, target, NAME, { timeoutMs: 10_000, ...fakeClock() });
  t.equal(runner.countCalls(['query', NAME]), 2);
});

t.test('restarting an unknown service or without elevation fails before anything else runs', async (t) => {
  const unknown = new FakeRunner([row('stop', scError('OpenService', 1060, 'x'))]);
  await t.rejects(restartService(unknown, target, NAME, { timeoutMs: 1000, ...fakeClock() }), {
    scExitCode: 1060,
    message: /no Windows service named "KerioMailServer"/,
  });
  t.equal(unknown.calls.length, 1);

  const denied = new FakeRunner([row('stop', scError('OpenService', 5, 'Zugriff verweigert'))]);
  const error = (await restartService(denied, target, NAME, { timeoutMs: 1000, ...fakeClock() }).catch((e: unknown) => e)) as ServiceError;
  t.equal(error.scExitCode, 5);
  t.match(error.hint, /elevated prompt/);
  t.equal(denied.calls.length, 1);
});

t.test('elevation is decided by the exit code of net session alone', async (t) => {
  const NET = 'C:\\Windows\\System32\\net.exe';
  const yes = new FakeRunner([{ program: NET, args: ['session'], reply: { stdout: 'Es sind keine Einträge in der Liste vorhanden.' } }]);
  t.equal(await isElevated(yes, target), true);
  const no = new FakeRunner([{ program: NET, args: ['session'], reply: { exitCode: 2, stderr: 'System error 5 has occurred.\r\n\r\nAccess is denied.' } }]);
  t.equal(await isElevated(no, target), false);
  t.equal(no.calls[0]!.mutates, false);
});

// ------------------------------------------------- checks that mutation testing found untested

t.test('an unquoted command line with spaces and no arguments, or without .exe, still gives the program', async (t) => {
  t.equal(executableOfCommandLine('C:\\Program Files\\Kerio\\MailServer\\mailserver.exe'), 'C:\\Program Files\\Kerio\\MailServer\\mailserver.exe');
  t.equal(executableOfCommandLine('C:\\svc\\run.cmd -service'), 'C:\\svc\\run.cmd');
  t.equal(executableOfCommandLine('"" -service'), null, 'empty quotes name no program');
  t.equal(executableOfCommandLine('   '), null);
});

t.test('sc qc without a program line or with an empty account gives null for them', async (t) => {
  const stdout = qcOutput('x', '')
    .split('\r\n')
    .filter((l) => !l.includes('BINARY_PATH_NAME'))
    .join('\r\n');
  t.same(await queryServiceConfig(new FakeRunner([row('qc', { stdout })]), target, NAME), { name: NAME, binaryPath: null, startName: null });
});

t.test('only a refusal for want of rights gets the elevation hint', async (t) => {
  const runner = new FakeRunner([
    row('stop', scError('ControlService', 1051, 'A stop control has been sent to a service that other running services are dependent on.')),
  ]);
  const error = (await restartService(runner, target, NAME, { timeoutMs: 1000, ...fakeClock() }).catch((e: unknown) => e)) as ServiceError;
  t.equal(error.scExitCode, 1051);
  t.equal(error.hint, undefined, 'no hint about elevation for another sc error');
});

t.test('a slow stop reports the seconds waited, and a timeout says the whole story', async (t) => {
  const runner = new FakeRunner([row('stop', queryOutput(3)), row('query', queryOutput(3))]);
  const progress: Array<[number, number]> = [];
  const error = (await restartService(runner, target, NAME, {
    timeoutMs: 3_000,
    pollMs: 1000,
    ...fakeClock(),
    onProgress: (s, state) => progress.push([s, state]),
  }).catch((e: unknown) => e)) as ServiceError;
  t.same(progress, [
    [0, 3],
    [1, 3],
    [2, 3],
  ]);
  t.equal(error.message, `The service "${NAME}" is still STOP_PENDING (3) after 3 s; it did not stop within the 3 s allowed.`);
  t.equal(error.hint, `Check the service with sc.exe query ${NAME} or services.msc; if it is only slow, allow it more time and run again.`);
});

t.test('without a sleep of its own, the wait really waits between polls', async (t) => {
  const runner = new FakeRunner([row('stop', queryOutput(3)), row('query', [queryOutput(3), queryOutput(1), queryOutput(4)]), row('start', queryOutput(4))]);
  const started = Date.now();
  await restartService(runner, target, NAME, { timeoutMs: 10_000, pollMs: 150 });
  t.ok(Date.now() - started >= 140, `one real poll interval passed (${Date.now() - started} ms)`);
});
