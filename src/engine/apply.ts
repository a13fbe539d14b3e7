import { createBackup, writeManifest, type Backup } from '../backup/create.js';
import { pruneBackups } from '../backup/prune.js';
import { planRestore } from '../backup/restorePlan.js';
import type { Location } from '../detect/locate.js';
import { ExitCode, KerioDccError } from '../errors.js';
import type { RunContext } from './context.js';
import { execute } from './execute.js';
import { planChanges, type Plan, type StepId, type StepStatus } from './plan.js';

export interface ApplyResult {
  statuses: Map<StepId, StepStatus>;
  backup: Backup | null;
  /** Backups removed by retention (backup.keep). */
  pruned: string[];
}

function messageOf(err: unknown): string {
  if (err instanceof KerioDccError) return err.message + (err.hint ? ` ${err.hint}` : '');
  return err instanceof Error ? err.message : String(err);
}

/** The status each step has before anything is applied (and keeps in a dry run). */
export function plannedStatuses(plan: Plan, dryRun: boolean): Map<StepId, StepStatus> {
  return new Map(plan.steps.map((s) => [s.id, s.status === 'change' ? (dryRun ? 'would-change' : 'not-run') : s.status]));
}

/**
 * Applies a plan: backup first, then each step's actions in order. When a step fails,
 * everything already changed is put back from that backup (exit 4), or the message says
 * exactly what could not be (exit 5).
 */
export async function applyPlan(ctx: RunContext, plan: Plan, location: Location, statuses: Map<StepId, StepStatus> = plannedStatuses(plan, false)): Promise<ApplyResult> {
  if (!planChanges(plan)) return { statuses, backup: null, pruned: [] };

  const backup = await createBackup(ctx, plan, location);
  statuses.set('backup', 'changed');
  ctx.log.info(`backup: ${backup.winDir}`);
  let serviceTouched = false;
  for (const s of plan.steps) {
    if (s.status !== 'change' || s.id === 'backup') continue;
    try {
      for (const action of s.actions) {
        if (action.kind === 'restartService') serviceTouched = true;
        await execute(ctx, action);
      }
      statuses.set(s.id, 'changed');
    } catch (err) {
      statuses.set(s.id, 'failed');
      await restoreAfterFailure(ctx, backup, location, s.title, err, serviceTouched);
    }
  }
  backup.manifest.status = 'complete';
  backup.manifest.finishedAt = ctx.now().toISOString();
  await writeManifest(backup.dir, backup.manifest);
  const pruned = await pruneBackups(ctx, backup.manifest.id);
  return { statuses, backup, pruned };
}

/** Puts back what the failed run changed; always throws: exit 4 when complete, 5 when not. */
async function restoreAfterFailure(ctx: RunContext, backup: Backup, location: Location, stepTitle: string, cause: unknown, serviceTouched: boolean): Promise<never> {
  const what = `Step "${stepTitle}" failed: ${messageOf(cause)}`;
  ctx.log.warn(`${what}\nRestoring from backup ${backup.winDir} ...`);
  const problems: string[] = [];
  try {
    const { plan, conflicts } = await planRestore(ctx, backup.dir, backup.manifest, location, { force: false });
    problems.push(...conflicts);
    for (const s of plan.steps) {
      if (s.status !== 'change' || (s.id === 'service' && !serviceTouched)) continue;
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
  backup.manifest.status = problems.length ? 'restore-failed' : 'restored';
  backup.manifest.finishedAt = ctx.now().toISOString();
  await writeManifest(backup.dir, backup.manifest).catch((err) => problems.push(`could not update the manifest: ${messageOf(err)}`));
  if (problems.length === 0) {
    throw new KerioDccError(ExitCode.restored, `${what}\nEverything this run changed was restored from the backup ${backup.winDir}.`, 'Fix the cause above and run again.');
  }
  throw new KerioDccError(
    ExitCode.restoreIncomplete,
    `${what}\nRestoring from the backup ${backup.winDir} was incomplete:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    `Fix the cause, then run: kerio-dcc rollback ${backup.manifest.id} --force --yes (the backup holds every original file).`,
  );
}
