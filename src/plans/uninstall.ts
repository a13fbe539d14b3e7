import type { Facts } from '../detect/facts.js';
import type { Planning } from '../model/context.js';
import type { Plan } from '../model/plan.js';
import { filePlan, planEach } from './common.js';
import { managedFor } from './install.js';
import { planWatchRemoval } from '../managed/watchTask.js';

/** Takes DCC out without needing an earlier backup: the removal each managed thing plans. */
export async function planUninstall(ctx: Planning, facts: Facts): Promise<Plan> {
  // First: a scheduled repair left running would put DCC back. Not one of the managed things: install does not register it.
  const watch = await planWatchRemoval(ctx);
  return filePlan('uninstall', ctx, facts.location, [
    ...(watch.status === 'change' ? [watch] : []),
    ...(await planEach(ctx, facts, managedFor(ctx.answers), 'remove')),
  ]);
}
