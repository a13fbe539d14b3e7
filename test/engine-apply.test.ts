// Applying a plan (src/engine/apply.ts), in process: install's real plan on the demo image with
// its simulated system, carried out by applyPlan, with faults put where the CLI suites need
// minutes to reach them (test/helpers/faults.ts), a second one during the restore among them.
// The CLI suites (cli-failure-restore, cli-recover, fault-injection) prove the same through the
// command line; here each outcome is checked where it is decided: the statuses, the backup's
// manifest and journal, the message, the hint and the exit code.
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { detectFacts } from '../src/detect/facts.js';
import { locate } from '../src/detect/locate.js';
import { ExitCode, KerioDccError } from '../src/errors.js';
import { applyPlan, plannedStatuses, type ApplyResult } from '../src/engine/apply.js';
import type { StepId, StepStatus } from '../src/model/plan.js';
import { planInstall } from '../src/plans/install.js';
import { createBackup, markBackup } from '../src/store/create.js';
import { readManifestHead } from '../src/store/format.js';
import { SIMULATED_STATE_PATH, saveSimState } from '../src/system/simulated.js';
import { withStateFolderSecured } from '../src/system/simulated/acl.js';
import type { CommandResult } from '../src/system/runner.js';
import { hashTree, inImage, makeImage, simState } from './helpers/cli.js';
import { runContext } from './helpers/context.js';
import { failingAt, handlesIn } from './helpers/faults.js';

const BACKUPS = 'C:\\ProgramData\\kerio-dcc\\backups';
const ID = '20261203T080000Z';
const RESTORED = `Everything this run changed was restored from the backup ${BACKUPS}\\${ID}.`;
const esc = (s: string) => s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');

/** install --yes --restart on a fresh demo image with its simulated system, up to the plan. */
async function installing(t: Test, ini?: string) {
  const img = await makeImage(t);
  const { ctx, warnings } = await runContext(t, img.root, { values: { yes: true, restart: true }, ...(ini === undefined ? {} : { ini }) });
  ctx.now = () => new Date('2026-12-03T08:00:00.000Z');
  const location = await locate(ctx, { requireDcc: true });
  const plan = await planInstall(ctx, await detectFacts(ctx, { requireDcc: true, location }));
  const statuses = plannedStatuses(plan);
  return {
    img,
    ctx,
    plan,
    warnings,
    statuses,
    location,
    backup: inImage(img.root, `${BACKUPS}\\${ID}`),
    apply: (): Promise<ApplyResult> => applyPlan(ctx, plan, location, statuses),
  };
}

type Run = Awaited<ReturnType<typeof installing>>;

/** A scenario for failingAt, which runs it again and again: each time install on a fresh image; `last()` is the latest. */
function freshInstalls(t: Test, before?: (run: Run) => Promise<void>) {
  let last!: Run;
  const scenario = async () => {
    last = await installing(t);
    await before?.(last);
    return last.apply();
  };
  return { scenario, last: () => last };
}

/**
 * What the run's system does when asked to add a firewall rule: `instead`, given the simulated
 * system's own answer to call (every other command is left to it).
 */
function onRuleAdd(run: Run, instead: (send: () => Promise<CommandResult>) => Promise<CommandResult>): void {
  const runner = run.ctx.runner!;
  const send = runner.run.bind(runner);
  runner.run = (request) => (request.mutates && request.args.includes('add') ? instead(() => send(request)) : send(request));
}

/** What a journal recorded, as `step event` lines. */
async function journalOf(dir: string): Promise<string[]> {
  return (await readFile(path.join(dir, 'journal.jsonl'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const { step, event } = JSON.parse(l);
      return `${step} ${event}`;
    });
}

const CHANGING: StepId[] = ['profile', 'map', 'local-cf', 'v310-pre', 'firewall', 'service'];

t.test('every step applied: each changed and journaled, the backup marked complete, no handle left open', async (t) => {
  const run = await installing(t);
  t.same(
    run.plan.steps.filter((s) => s.status === 'change').map((s) => s.id),
    ['backup', ...CHANGING],
  );
  const result = await run.apply();
  t.same(Object.fromEntries(result.statuses), { locate: 'unchanged', backup: 'changed', ...Object.fromEntries(CHANGING.map((id) => [id, 'changed'])) });
  t.equal(result.backup?.winDir, `${BACKUPS}\\${ID}`);
  t.same(result.pruned, []);
  t.match(await readManifestHead(run.backup), { status: 'complete', finishedAt: '2026-12-03T08:00:00.000Z' });
  t.same(
    await journalOf(run.backup),
    CHANGING.flatMap((id) => [`${id} start`, `${id} finish`]),
  );
  t.equal(await handlesIn(run.img.root), 0, 'the journal and every file are closed');
  t.same(run.warnings, []);
});

t.test('a plan with nothing to change makes no backup', async (t) => {
  const first = await installing(t);
  await first.apply();
  // Without --restart (which always restarts Kerio), the second run has nothing to do.
  first.ctx.options.restart = false;
  const location = await locate(first.ctx, { requireDcc: true });
  const again = await planInstall(first.ctx, await detectFacts(first.ctx, { requireDcc: true, location }));
  const statuses = plannedStatuses(again);
  const result = await applyPlan(first.ctx, again, location, statuses);
  t.same(result, { statuses, backup: null, pruned: [] });
  t.ok(
    [...statuses.values()].every((s) => s === 'unchanged' || s === 'skipped'),
    'every step unchanged',
  );
  t.same(await readdir(inImage(first.img.root, BACKUPS)), [ID], 'only the first run’s backup');
});

t.test('older backups beyond backup.keep are pruned, and the run names them', async (t) => {
  const run = await installing(t, '[backup]\nkeep = 1\n');
  run.ctx.now = () => new Date('2026-12-01T08:00:00.000Z');
  const older = await createBackup(run.ctx, run.plan, run.location);
  await markBackup(older, 'complete', '2026-12-01T08:00:01.000Z');
  run.ctx.now = () => new Date('2026-12-03T08:00:00.000Z');
  const result = await run.apply();
  t.same(result.pruned, ['20261201T080000Z']);
  t.same(await readdir(inImage(run.img.root, BACKUPS)), [ID]);
});

/** The tree of every folder a run may write, to compare before and after. */
async function trees(run: Run): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const dir of ['Program Files (x86)', 'Windows']) Object.assign(out, await hashTree(path.join(run.img.root, dir)));
  out['firewall'] = JSON.stringify((await simState(run.img)).firewall);
  return out;
}

t.test('a step that fails: everything is put back, the later steps did not run, exit 4', async (t) => {
  let before: Record<string, string> = {};
  const { scenario, last } = freshInstalls(t, async (run) => {
    before = await trees(run);
  });
  await t.rejects(failingAt(t, /^firewall Kerio DCC \(UDP 6277 in\)$/, scenario), {
    exitCode: 4,
    message: new RegExp(`^Step "firewall \\(UDP 6277\\)" failed: injected fault at point \\d+ \\(firewall Kerio DCC \\(UDP 6277 in\\)\\)\\n${esc(RESTORED)}$`),
    hint: 'Fix the cause above and run again.',
  });
  const run = last();
  t.same(Object.fromEntries(run.statuses), {
    locate: 'unchanged',
    backup: 'changed',
    profile: 'changed',
    map: 'changed',
    'local-cf': 'changed',
    'v310-pre': 'changed',
    firewall: 'failed',
    service: 'not-run',
  } satisfies Record<string, StepStatus>);
  t.same(await trees(run), before, 'the rules, the profile folders and the firewall are as before');
  t.match(await readManifestHead(run.backup), { status: 'restored', finishedAt: '2026-12-03T08:00:00.000Z' });
  t.same((await journalOf(run.backup)).slice(-3), ['firewall start', 'firewall failed', 'restore restored']);
  t.match(run.warnings, [
    /^Step "firewall \(UDP 6277\)" failed: injected fault .*\nRestoring from backup C:\\ProgramData\\kerio-dcc\\backups\\20261203T080000Z \.\.\.$/,
  ]);
});

t.test('Ctrl-C between two actions: the step stops, everything is put back, exit 130', async (t) => {
  const run = await installing(t);
  const before = await trees(run);
  const listening = process.listeners('SIGINT');
  // Ctrl-C while the first firewall rule is being added: apply's own handler, as the signal would call it.
  onRuleAdd(run, async (send) => {
    const result = await send();
    for (const l of process.listeners('SIGINT')) if (!listening.includes(l)) l('SIGINT');
    return result;
  });
  await t.rejects(run.apply(), {
    exitCode: 130,
    message: `Interrupted during step "firewall (UDP 6277)".\n${RESTORED}`,
    hint: 'Nothing is left changed.',
  });
  t.equal(run.statuses.get('firewall'), 'failed');
  t.same(await trees(run), before);
  t.same(process.listeners('SIGINT'), listening, 'the handler is taken away again');
  t.match(run.warnings[0], /^Ctrl-C: finishing the current action, then restoring from the backup/);
});

t.test('a backup that cannot be marked complete does not fail a run whose changes are all made', async (t) => {
  const { scenario, last } = freshInstalls(t);
  const result = await failingAt(t, new RegExp(`^temp create .*/${ID}/manifest\\.json$`), scenario);
  t.equal(result.statuses.get('service'), 'changed');
  const { warnings, backup } = last();
  t.equal(warnings.length, 1);
  t.match(
    warnings[0],
    new RegExp(
      `^could not mark backup ${ID} complete \\(injected fault at point \\d+ \\(temp create ${esc(backup)}/manifest\\.json\\)\\); its journal shows the run finished$`,
    ),
  );
  t.match(await readManifestHead(backup), { status: 'applying' }, 'the manifest still says applying');
});

t.test('a second fault while restoring: exit 5, and the message lists what was not put back and how to finish', async (t) => {
  const { scenario, last } = freshInstalls(t);
  await t.rejects(failingAt(t, [/^firewall Kerio DCC \(UDP 6277 in\)$/, /^writeFile .*\\local\.cf$/], scenario), {
    exitCode: 5,
    message: new RegExp(
      `^Step "firewall \\(UDP 6277\\)" failed: injected fault .*\\nRestoring from the backup ${esc(`${BACKUPS}\\${ID}`)} was incomplete:\\n  - restore files: injected fault at point \\d+ \\(writeFile .*\\\\local\\.cf\\)$`,
    ),
    hint: `Fix the cause, then run: kerio-dcc rollback ${ID} --force --yes --restart (it puts back what is left and starts KerioMailServer; the backup holds every original file).`,
  });
  t.match(await readManifestHead(last().backup), { status: 'restore-failed' });

  await t.rejects(failingAt(t, [/^firewall Kerio DCC \(UDP 6277 in\)$/, new RegExp(`^temp create .*/${ID}/manifest\\.json$`)], scenario), {
    exitCode: 5,
    message: /was incomplete:\n {2}- could not update the manifest: injected fault at point \d+ \(temp create .*\/manifest\.json\)$/,
  });
  t.match(await readManifestHead(last().backup), { status: 'applying' }, 'the manifest could not say so: it still says applying');
});

t.test("a step that fails with kerio-dcc's own error: its hint is part of the message", async (t) => {
  const run = await installing(t);
  const state = await simState(run.img);
  Object.assign(state.services['KerioMailServer']!, { startFails: 1 });
  await saveSimState(inImage(run.img.root, SIMULATED_STATE_PATH), withStateFolderSecured(state));
  await t.rejects(run.apply(), {
    exitCode: 4,
    message: new RegExp(
      `^Step "service KerioMailServer" failed: The service "KerioMailServer" stopped again while starting \\(WIN32_EXIT_CODE 1067\\): it is STOPPED \\(1\\)\\. Read the Windows event log and Kerio's error\\.log for the reason, then start it with sc\\.exe start KerioMailServer\\.\\n${esc(RESTORED)}$`,
    ),
  });
});

t.test('a restore that cannot even be planned, or finds the manifest unreadable, says so: exit 5', async (t) => {
  const { scenario, last } = freshInstalls(t);
  // The restore reads the system again (PowerShell) before it puts anything back: a failure there stops the whole restore.
  await t.rejects(failingAt(t, [/^firewall Kerio DCC \(UDP 6277 in\)$/, /^command \S*powershell\.exe /], scenario), {
    exitCode: 5,
    message: /was incomplete:\n {2}- injected fault at point \d+ \(command \S*powershell\.exe [^\n]*\)$/,
  });
  t.match(await readManifestHead(last().backup), { status: 'restore-failed' });

  const torn = await installing(t);
  // The first rule's command fails, and by then the backup's manifest has been damaged (a failing disk).
  onRuleAdd(torn, async () => {
    await writeFile(path.join(torn.backup, 'manifest.json'), '{ torn');
    throw Object.assign(new Error('netsh could not be started'), { code: 'EIO' });
  });
  await t.rejects(torn.apply(), {
    exitCode: 5,
    message:
      /^Step "firewall \(UDP 6277\)" failed: netsh could not be started\nRestoring from the backup .* was incomplete:\n {2}- \S[^\n]*manifest\.json[^\n]*$/,
  });
});

t.test("a step that fails with kerio-dcc's own error without a hint: its message alone", async (t) => {
  const run = await installing(t);
  // A stand-in for a command refused with kerio-dcc's own error that has no hint (the simulation's errors all have one).
  onRuleAdd(run, async () => {
    throw new KerioDccError(ExitCode.precondition, 'netsh refused the rule.');
  });
  await t.rejects(run.apply(), { exitCode: 4, message: `Step "firewall (UDP 6277)" failed: netsh refused the rule.\n${RESTORED}` });
});

t.test('two things the restore could not put back are listed one a line', async (t) => {
  const { scenario } = freshInstalls(t);
  const error = await failingAt(t, [/^firewall Kerio DCC \(UDP 6277 in\)$/, /^writeFile .*\\local\.cf$/, /^writeFile .*\\v310\.pre$/], scenario).catch(
    (e: Error) => e,
  );
  t.match(error, { exitCode: 5 });
  t.match((error as Error).message.split('\n').slice(-2), [/^ {2}- restore files: .*\\local\.cf\)$/, /^ {2}- restore files: .*\\v310\.pre\)$/]);
});

t.test('a journal that cannot be written fails its step, and the run is put back', async (t) => {
  const { scenario, last } = freshInstalls(t);
  await t.rejects(failingAt(t, /^journal firewall finish$/, scenario), {
    exitCode: 4,
    message: /^Step "firewall \(UDP 6277\)" failed: injected fault at point \d+ \(journal firewall finish\)\n/,
  });
  t.equal(last().statuses.get('firewall'), 'failed');
  t.equal(last().statuses.get('service'), 'not-run');
});
