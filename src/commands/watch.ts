/**
 * `kerio-dcc watch --answers F`: registers the scheduled repair; `watch --remove` takes it
 * out. Both are changes like any other: planned, shown, backed up, undone by rollback.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import type { Report } from '../model/report.js';
import { locate } from '../detect/locate.js';
import type { RunContext } from '../model/context.js';
import { step, type Plan, type StepPlan } from '../model/plan.js';
import { PreconditionError, UsageError } from '../errors.js';
import { planWatch, planWatchRemoval, serviceDisplayName, taskSpec } from '../managed/watchTask.js';
import { writeEvent } from '../windows/eventLog.js';
import { TASK_NAME } from '../windows/scheduledTask.js';
import { planThenApply } from './changeFlow.js';
import { Target, basenameWin } from '../target/target.js';
import { RecordingRunner, type CommandRunner } from '../system/runner.js';

function backupStepFor(ctx: RunContext, later: StepPlan): StepPlan {
  const changes = later.status === 'change';
  return step('backup', 'backup', {
    status: changes ? 'change' : 'unchanged',
    detail: changes ? `back up every file to be replaced, to a new folder in ${ctx.answers.backup.dir}` : 'nothing to change, so no backup is needed',
  });
}

function requireSystem(ctx: RunContext): void {
  if (!ctx.runner) {
    throw new PreconditionError(
      'kerio-dcc watch registers a Windows scheduled task, which cannot be done on an image (--root) without --simulate.',
      'Run it on the server itself, or add --simulate. Nothing was changed.',
    );
  }
}

export async function runWatch(ctx: RunContext, report: Report): Promise<void> {
  requireSystem(ctx);
  if (!ctx.loaded.file) {
    throw new UsageError(
      'kerio-dcc watch needs the answers file the repair will use.',
      'Give it with --answers FILE (the same one you install with); it is copied into C:\\ProgramData\\kerio-dcc\\watch. Nothing was changed.',
    );
  }
  const answers = await readFile(ctx.loaded.file);
  const location = await locate(ctx, { requireDcc: false });
  const watch = await planWatch(ctx, answers, taskSpec(ctx, await serviceDisplayName(ctx, ctx.answers.kerio.service)));
  const plan: Plan = { command: 'watch', steps: [backupStepFor(ctx, watch), watch], readHashes: new Map(), backupTrees: [] };
  await planThenApply(ctx, report, plan, location, `Register the scheduled task ${TASK_NAME}?`);
  if (!report.changed) return;
  // The first event also registers the source kerio-dcc in the Application log.
  const problem = await writeEvent(
    ctx.runner!,
    ctx.target,
    'watchRegistered',
    `kerio-dcc watch registered the scheduled task ${TASK_NAME} on ${serverName()}: it checks DCC every ${ctx.answers.watch.intervalHours} hour(s), at boot and after Kerio starts, and repairs it. Backup ${report.backup ? basenameWin(report.backup) : '-'}.`,
  );
  if (problem) report.warnings.push(problem);
  report.summary = `DCC is watched: ${TASK_NAME} checks it and puts it back after a Kerio upgrade. Remove with: kerio-dcc watch --remove`;
}

export async function runWatchRemove(ctx: RunContext, report: Report): Promise<void> {
  requireSystem(ctx);
  const location = await locate(ctx, { requireDcc: false });
  const watch = await planWatchRemoval(ctx);
  const plan: Plan = { command: 'watch', steps: [backupStepFor(ctx, watch), watch], readHashes: new Map(), backupTrees: [] };
  await planThenApply(ctx, report, plan, location, `Delete the scheduled task ${TASK_NAME}?`);
  if (report.changed) report.summary = 'DCC is no longer watched. To undo this: kerio-dcc rollback';
}

/** The server's name for event and log messages. */
export function serverName(): string {
  return os.hostname();
}

/**
 * The repair could not load its answers (missing or broken): nothing can be checked, but
 * monitoring must hear of it. `runner` is built without the answers (cli/brokenAnswers.ts).
 */
export async function reportBrokenAnswers(target: Target, runner: CommandRunner, report: Report, err: UsageError): Promise<void> {
  report.data['outcome'] = 'broken-answers';
  const recording = new RecordingRunner(runner, false);
  const problem = await writeEvent(
    recording,
    target,
    'answersBroken',
    `kerio-dcc could not check DCC on ${serverName()}: the answers file of the scheduled repair cannot be used. ${err.message} Nothing was changed. Fix it with: kerio-dcc watch --answers <a corrected file>`,
  );
  report.commands = recording.records;
  if (problem) report.warnings.push(problem);
}
