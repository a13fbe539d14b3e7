// execute() carries out one planned action. The planner only plans removing a folder that is
// there and empty, deleting a file that is there, and so on; these are the answers execute()
// gives when the server changed between planning and acting, which no CLI run can time.
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { loadAnswers } from '../src/answers/load.js';
import { execute } from '../src/engine/execute.js';
import type { RunContext } from '../src/model/context.js';
import { RecordingRunner, type CommandRequest } from '../src/system/runner.js';
import { Target } from '../src/target/target.js';
import { tempDir } from './helpers/cli.js';
import { faultPointsOf } from './helpers/faults.js';
import { FakeRunner, type FakeReply } from './helpers/fakeRunner.js';

async function context(t: Parameters<typeof tempDir>[0]): Promise<{ ctx: RunContext; root: string; warnings: string[] }> {
  const root = await tempDir(t);
  const loaded = await loadAnswers(null);
  const warnings: string[] = [];
  const ctx = {
    target: new Target({ root }),
    runner: null,
    answers: loaded.answers,
    loaded,
    options: { dryRun: false, yes: true, restart: false, simulate: false, force: false },
    ui: { info: () => undefined, warn: (m: string) => warnings.push(m), progress: null, say: () => undefined, showPlan: () => undefined, prompter: null },
    now: () => new Date(),
    toolVersion: 'test',
  } as RunContext;
  return { ctx, root, warnings };
}

t.test('removing a folder that is no longer empty leaves it with a warning; one already gone is fine; anything else fails', async (t) => {
  const { ctx, root, warnings } = await context(t);
  await mkdir(path.join(root, 'full'));
  await writeFile(path.join(root, 'full', 'theirs.txt'), 'x');
  await execute(ctx, { kind: 'removeEmptyDir', path: 'C:\\full' });
  t.ok((await stat(path.join(root, 'full'))).isDirectory(), 'the folder and what is in it stay');
  t.same(warnings, ['C:\\full was left in place: it is not empty']);

  await execute(ctx, { kind: 'removeEmptyDir', path: 'C:\\gone' });
  t.same(warnings.length, 1, 'a folder already gone: nothing to say');

  await writeFile(path.join(root, 'file'), 'x');
  await t.rejects(execute(ctx, { kind: 'removeEmptyDir', path: 'C:\\file' }), { code: 'ENOTDIR' }, 'a file where the folder was: the step fails');
});

t.test('deleting a file already gone is fine; a folder where the file was fails the step', async (t) => {
  const { ctx, root } = await context(t);
  await execute(ctx, { kind: 'deleteFile', path: 'C:\\gone.txt' });
  await mkdir(path.join(root, 'dir'));
  await t.rejects(execute(ctx, { kind: 'deleteFile', path: 'C:\\dir' }));
  t.ok((await stat(path.join(root, 'dir'))).isDirectory());
});

t.test('creating a folder that is already there is fine; one whose parent is missing fails', async (t) => {
  const { ctx, root } = await context(t);
  await mkdir(path.join(root, 'there'));
  await execute(ctx, { kind: 'mkdir', path: 'C:\\there' });
  await t.rejects(execute(ctx, { kind: 'mkdir', path: 'C:\\no\\such' }), { code: 'ENOENT' });
});

t.test('a system command without a system to run it on fails with an internal error, never silently', async (t) => {
  const { ctx } = await context(t);
  await t.rejects(
    execute(ctx, { kind: 'restartService', service: 'KerioConnect', timeoutSeconds: 1 }),
    /internal: a system command was planned, but no system is available/,
  );
});

t.test('a scheduled-task or firewall command is run, and fails its step when it fails or times out', async (t) => {
  const { ctx } = await context(t);
  const request: CommandRequest = { program: 'C:\\Windows\\System32\\schtasks.exe', args: ['/Create', '/TN', 'kerio-dcc'], mutates: true };
  const withReply = (reply: FakeReply) => {
    const fake = new FakeRunner([{ program: request.program, args: request.args, reply }]);
    ctx.runner = new RecordingRunner(fake, false);
    return fake;
  };
  const task = { kind: 'task', request, taskName: 'kerio-dcc' } as const;
  const ran = withReply({});
  await execute(ctx, task);
  t.equal(ran.calls.length, 1, 'the task command ran once');
  withReply({ exitCode: 1, stderr: 'ERROR: Access is denied.' });
  await t.rejects(execute(ctx, task), /Access is denied/);
  withReply({ timedOut: true });
  await t.rejects(execute(ctx, task), Error, 'timed out, even with exit code 0');

  const firewall = { kind: 'firewall', request, ruleName: 'DCC', before: [], after: [] } as const;
  withReply({ exitCode: 1 });
  await t.rejects(execute(ctx, firewall), { name: 'FirewallError', message: /Changing the Windows Firewall failed/, hint: /elevated prompt/ });
});

t.test('each action names its fault point by what it changes: a path, a rule, a task or a service', async (t) => {
  const { ctx } = await context(t);
  const log = path.join(await tempDir(t), 'points');
  const request: CommandRequest = { program: 'C:\\Windows\\System32\\schtasks.exe', args: [], mutates: true };
  process.env['KERIO_DCC_FAULT'] = 'count';
  process.env['KERIO_DCC_FAULT_LOG'] = log;
  try {
    // No system to run commands on: those actions fail right after their point, which is all that is looked at here.
    for (const action of [
      { kind: 'mkdir', path: 'C:\\made' },
      { kind: 'firewall', request, ruleName: 'Kerio DCC (UDP 6277 in)', before: [], after: [] },
      { kind: 'task', request, taskName: 'kerio-dcc watch' },
      { kind: 'restartService', service: 'KerioMailServer', timeoutSeconds: 1 },
    ] as const)
      await execute(ctx, action).catch(() => undefined);
  } finally {
    delete process.env['KERIO_DCC_FAULT'];
    delete process.env['KERIO_DCC_FAULT_LOG'];
  }
  t.same(
    faultPointsOf(await readFile(log, 'utf8')).map((p) => p.label),
    ['mkdir C:\\made', 'firewall Kerio DCC (UDP 6277 in)', 'task kerio-dcc watch', 'restartService KerioMailServer'],
  );
});
