import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { RecordingRunner } from '../src/system/runner.js';
import { FakeRunner } from './helpers/fakeRunner.js';

const NETSH = 'C:\\Windows\\System32\\netsh.exe';
const SHOW = ['advfirewall', 'firewall', 'show', 'rule', 'name=Kerio DCC (UDP 6277 in)'];
const ADD = ['advfirewall', 'firewall', 'add', 'rule', 'name=Kerio DCC (UDP 6277 in)', 'dir=in', 'action=allow', 'protocol=UDP', 'localport=6277'];

function runners(dryRun: boolean): { inner: FakeRunner; runner: RecordingRunner } {
  const inner = new FakeRunner([
    { program: NETSH, args: SHOW, reply: { exitCode: 1, stdout: 'No rules match the specified criteria.\r\n' } },
    { program: NETSH, args: ADD, reply: { stdout: 'Ok.\r\n' } },
  ]);
  return { inner, runner: new RecordingRunner(inner, dryRun) };
}

// The last line of defence of --dry-run: a planning bug that asks for a changing command must not reach Windows.
t.test('in a dry run a changing command is refused before it reaches Windows, and a read-only one runs', async (t) => {
  const { inner, runner } = runners(true);
  const shown = await runner.run({ program: NETSH, args: SHOW, mutates: false });
  t.equal(shown.exitCode, 1, 'the read-only command ran and its result came back');
  await t.rejects(
    runner.run({ program: NETSH, args: ADD, mutates: true }),
    /internal: dry run tried to run a changing command: .*netsh\.exe advfirewall firewall add rule/,
    'the changing command is refused, naming it',
  );
  t.same(
    inner.calls.map((c) => c.args[2]),
    ['show'],
    'only the read-only command reached the system',
  );
  t.same(
    runner.records.map((r) => ({ args2: r.args[2], mutates: r.mutates, exitCode: r.exitCode })),
    [
      { args2: 'show', mutates: false, exitCode: 1 },
      { args2: 'add', mutates: true, exitCode: null },
    ],
    'both are recorded for the audit trail; the refused one has no exit code',
  );
});

t.test('in a real run a changing command runs and its exit code is recorded', async (t) => {
  const { inner, runner } = runners(false);
  const added = await runner.run({ program: NETSH, args: ADD, mutates: true });
  t.equal(added.stdout, 'Ok.\r\n');
  t.same(
    inner.calls.map((c) => c.args[2]),
    ['add'],
    'the command reached the system',
  );
  t.same(
    runner.records.map((r) => r.exitCode),
    [0],
  );
});

t.test('the runner says whether its system is simulated, and records it with each command', async (t) => {
  for (const simulated of [true, false]) {
    const runner = new RecordingRunner(new FakeRunner([{ program: NETSH, args: SHOW, reply: {} }], simulated), false);
    t.equal(runner.simulated, simulated);
    await runner.run({ program: NETSH, args: SHOW, mutates: false });
    t.equal(runner.records[0]!.simulated, simulated);
  }
});

t.test("each command is a fault point labelled with its program and arguments (the fault-injection suite's names)", async (t) => {
  const log = path.join(await mkdtemp(path.join(os.tmpdir(), 'kerio-dcc-runner-')), 'points.log');
  t.teardown(() => rm(path.dirname(log), { recursive: true, force: true }));
  const saved = { fault: process.env['KERIO_DCC_FAULT'], log: process.env['KERIO_DCC_FAULT_LOG'] };
  process.env['KERIO_DCC_FAULT'] = 'count';
  process.env['KERIO_DCC_FAULT_LOG'] = log;
  try {
    await runners(false).runner.run({ program: NETSH, args: SHOW, mutates: false });
  } finally {
    for (const [key, value] of [
      ['KERIO_DCC_FAULT', saved.fault],
      ['KERIO_DCC_FAULT_LOG', saved.log],
    ] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
  t.match(await readFile(log, 'utf8'), /^\d+\tcommand C:\\Windows\\System32\\netsh\.exe advfirewall firewall show rule name=Kerio DCC \(UDP 6277 in\)\n$/);
});
