import { applyPlan, plannedStatuses } from '../engine/apply.js';
import type { RunContext } from '../model/context.js';
import { planChanges, type Plan } from '../model/plan.js';
import type { Location } from '../detect/locate.js';
import { PreconditionError, UsageError } from '../errors.js';
import { stepReports, type Report } from '../model/report.js';
import { isElevated } from '../windows/elevation.js';

/** How a changing command ended when it did not fail: the command decides what to say (and do next) from this alone. */
export type Outcome = 'unchanged' | 'dry-run' | 'declined' | 'applied';

/**
 * The shared shape of every changing command: show the plan, ask (or require --yes),
 * check elevation, apply. The report is kept current so a failure still reports each step.
 */
export async function planThenApply(ctx: RunContext, report: Report, plan: Plan, location: Location, question: string): Promise<Outcome> {
  const statuses = plannedStatuses(plan);
  const refresh = () => {
    report.steps = stepReports(plan.steps, statuses);
  };
  refresh();
  if (!planChanges(plan)) {
    report.summary = 'Nothing needed changing.';
    return 'unchanged';
  }
  if (ctx.options.dryRun) {
    report.summary = `Dry run: ${plan.steps.filter((s) => s.status === 'change').length} step(s) would change. Nothing was changed.`;
    return 'dry-run';
  }
  if (!ctx.options.yes) {
    if (!ctx.ui.prompter) {
      throw new UsageError(
        'There is no terminal to confirm on, and --yes was not given.',
        'Add --yes to apply the plan unattended, or --dry-run to only show it.',
      );
    }
    ctx.ui.showPlan(report);
    if (!(await ctx.ui.prompter.confirm(question, false))) {
      report.summary = 'Nothing changed.';
      // Part of --json schema 1: scripts read it.
      report.data['declined'] = true;
      report.steps = [];
      return 'declined';
    }
  }
  if (ctx.runner && !(await isElevated(ctx.runner, ctx.target))) {
    throw new PreconditionError(
      'This needs administrator rights to change the firewall and restart the service.',
      'Run it again from an elevated prompt (Run as administrator). Nothing was changed.',
    );
  }
  try {
    const result = await applyPlan(ctx, plan, location, statuses);
    report.changed = result.backup !== null;
    report.backup = result.backup?.winDir ?? null;
    if (result.pruned.length) report.data['prunedBackups'] = result.pruned;
  } finally {
    refresh();
  }
  return 'applied';
}
