import type { Report } from './report.js';
import type { RunContext } from '../engine/context.js';
import { planUninstall } from '../plans/uninstall.js';
import { planThenApply } from './changeFlow.js';

export async function runUninstall(ctx: RunContext, report: Report): Promise<void> {
  const { plan, location } = await planUninstall(ctx);
  await planThenApply(ctx, report, plan, location, 'Take DCC out with these changes?');
  if (report.changed) report.summary = `DCC is off. To undo this: kerio-dcc rollback`;
}
