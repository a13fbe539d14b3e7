import type { Facts } from '../detect/facts.js';
import type { Planning } from '../model/context.js';
import type { Plan } from '../model/plan.js';
import { filePlan, planEach } from './common.js';
import { managedFor } from './install.js';

/** Takes DCC out without needing an earlier backup: the removal each managed thing plans. */
export async function planUninstall(ctx: Planning, facts: Facts): Promise<Plan> {
  return filePlan('uninstall', ctx, facts.location, await planEach(ctx, facts, managedFor(ctx.answers), 'remove'));
}
