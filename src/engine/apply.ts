import { createBackup, markBackup, type Backup } from '../store/create.js';
import { Journal } from '../store/journal.js';
import { readManifest, writeManifest } from '../store/format.js';
import type { Manifest } from '../store/manifest.js';
import { pruneBackups } from '../store/prune.js';
import { planRestore } from '../plans/rollback.js';
import type { Location } from '../detect/locate.js';
import { ExitCode, KerioDccError } from '../errors.js';
import type { RunContext } from '../model/context.js';
import { execute } from './execute.js';
import { planChanges, type Plan, type StepId, type StepStatus } from '../model/plan.js';

export interface ApplyResult {
  statuses: Map<StepId, StepStatus>;
  backup: Backup | null;
  /** Backups removed by retention (backup.keep). */
  pruned: string[];
}

export function messageOf(err: unknown): string {
  if (err instanceof KerioDccError) return err.message + (err.hint ? ` ${err.hint}` : '');
  return err instanceof Error ? err.message : String(err);
}

/** The status each step has before anything is applied (and keeps in a dry run). */
export function plannedStatuses(plan: Plan): Map<StepId, StepStatus> {
  return new Map(plan.steps.map((s) => [s.id, s.status === 'change' ? 'would-change' : s.status]));
}

class Interrupted extends Error {
  constructor() {
    super('interrupted by Ctrl-C');
  }
}

/**
 * Applies a plan: backup first, then each step's actions in order, each step journaled.
 * When a step fails (or Ctrl-C arrives), everything already changed is put back from that
 * backup (exit 4, or 130 for Ctrl-C), or the message says exactly what could not be (exit 5).
 */
export async function applyPlan(
  ctx: RunContext,
  plan: Plan,
  location: Location,
  statuses: Map<StepId, StepStatus> = plannedStatuses(plan),
): Promise<ApplyResult> {
  if (!planChanges(plan)) return { statuses, backup: null, pruned: [] };

  const backup = await createBackup(ctx, plan, location);
  statuses.set('backup', 'changed');
  ctx.ui.info(`backup: ${backup.winDir}`);
  const journal = new Journal(backup.dir, ctx.now);
  let interrupted = false;
  // The first Ctrl-C lets the current action finish and then restores; a second one kills
  // the process, and the journal lets the next run restore.
  const onSigint = () => {
    interrupted = true;
    ctx.ui.warn('Ctrl-C: finishing the current action, then restoring from the backup (press again to abort at once)');
  };
  process.once('SIGINT', onSigint);
  let serviceTouched = false;
  try {
    for (const s of plan.steps) {
      if (s.status !== 'change' || s.id === 'backup') continue;
      try {
        await journal.record(s.id, 'start');
        for (const action of s.actions) {
          if (interrupted) throw new Interrupted();
          if (action.kind === 'restartService') serviceTouched = true;
          await execute(ctx, action, () => interrupted);
        }
        await journal.record(s.id, 'finish');
        statuses.set(s.id, 'changed');
      } catch (err) {
        statuses.set(s.id, 'failed');
        await journal.record(s.id, 'failed').catch(() => undefined);
        await restoreAfterFailure(ctx, backup, s.title, interrupted ? new Interrupted() : err, serviceTouched);
      }
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
    // Steps a failure kept from running say so, rather than 'would change'.
    for (const [id, status] of statuses) if (status === 'would-change') statuses.set(id, 'not-run');
  }
  // Every change is made: failing to mark the backup complete must not fail the run (the journal shows it finished).
  await markBackup(backup, 'complete', ctx.now().toISOString()).catch((err) =>
    ctx.ui.warn(`could not mark backup ${backup.manifest.id} complete (${messageOf(err)}); its journal shows the run finished`),
  );
  const pruned = await pruneBackups(ctx, backup.manifest.id);
  return { statuses, backup, pruned };
}

/**
 * Puts back what a run changed, from its own backup, without taking a new one. Returns the
 * problems (empty when everything is back) and records the outcome in the manifest.
 */
export async function restoreFromBackup(ctx: RunContext, dir: string, manifest: Manifest, options: { restartService: boolean }): Promise<string[]> {
  const problems: string[] = [];
  try {
    const { plan, conflicts } = await planRestore(ctx, dir, manifest, manifest.target.rulesDir, { force: false });
    problems.push(...conflicts);
    for (const s of plan.steps) {
      if (s.status !== 'change' || (s.id === 'service' && !options.restartService)) continue;
      for (const action of s.actions) {
        try {
          await execute(ctx, action);
        } catch (err) {
          problems.push(`${s.title}: ${messageOf(err)}`);
        }
      }
    }
  } catch (err) {
    problems.push(messageOf(err));
  }
  manifest.status = problems.length ? 'restore-failed' : 'restored';
  manifest.finishedAt = ctx.now().toISOString();
  await writeManifest(dir, manifest).catch((err) => problems.push(`could not update the manifest: ${messageOf(err)}`));
  await new Journal(dir, ctx.now).record('restore', 'restored').catch(() => undefined);
  return problems;
}

/** Always throws: exit 4 (130 after Ctrl-C) when everything is back, 5 when not. */
async function restoreAfterFailure(ctx: RunContext, backup: Backup, stepTitle: string, cause: unknown, serviceTouched: boolean): Promise<never> {
  const what = cause instanceof Interrupted ? `Interrupted during step "${stepTitle}".` : `Step "${stepTitle}" failed: ${messageOf(cause)}`;
  ctx.ui.warn(`${what}\nRestoring from backup ${backup.winDir} ...`);
  // The file list is read back from the manifest on disk: the run kept only its head.
  const problems = await readManifest(backup.dir).then(
    (manifest) => restoreFromBackup(ctx, backup.dir, manifest, { restartService: serviceTouched }),
    (err: unknown) => [messageOf(err)],
  );
  if (problems.length === 0) {
    const code = cause instanceof Interrupted ? ExitCode.interrupted : ExitCode.restored;
    throw new KerioDccError(
      code,
      `${what}\nEverything this run changed was restored from the backup ${backup.winDir}.`,
      cause instanceof Interrupted ? 'Nothing is left changed.' : 'Fix the cause above and run again.',
    );
  }
  throw new KerioDccError(
    ExitCode.restoreIncomplete,
    `${what}\nRestoring from the backup ${backup.winDir} was incomplete:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    `Fix the cause, then run: kerio-dcc rollback ${backup.manifest.id} --force --yes --restart (it puts back what is left and starts ${ctx.answers.kerio.service}; the backup holds every original file).`,
  );
}
