import { detectFacts } from '../detect/facts.js';
import type { RunContext } from '../model/context.js';
import type { Report } from '../model/report.js';
import { planUninstall } from '../plans/uninstall.js';
import { planThenApply } from './changeFlow.js';

export async function runUninstall(ctx: RunContext, report: Report): Promise<void> {
  const facts = await detectFacts(ctx, { requireDcc: false });
  const outcome = await planThenApply(ctx, report, await planUninstall(ctx, facts), facts.location, 'Take DCC out with these changes?');
  if (outcome === 'applied') report.summary = `DCC is off. To undo this: kerio-dcc rollback`;
}
