import type { RunContext } from '../engine/context.js';
import { planInstall } from '../engine/installPlan.js';
import type { Report } from '../cli/report.js';
import { planThenApply } from './changeFlow.js';

export async function runInstall(ctx: RunContext, report: Report): Promise<void> {
  const { plan, location } = await planInstall(ctx);
  await planThenApply(ctx, report, plan, location, 'Apply these changes?');
  if (report.changed) report.summary = 'DCC is on.';
}
