import type { RunContext } from '../engine/context.js';
import { planInstall } from '../engine/installPlan.js';
import type { Report } from '../cli/report.js';
import { askWhatDetectionCannotSettle, detectionSummary, saveAnswers } from '../cli/wizard.js';
import { planThenApply } from './changeFlow.js';

export const DEFAULT_SAVED_ANSWERS = 'kerio-dcc-answers.ini';

export async function runInstall(ctx: RunContext, report: Report, options: { saveAnswersTo?: string } = {}): Promise<void> {
  const prompter = ctx.options.yes ? null : ctx.prompter;
  if (prompter) {
    const location = await askWhatDetectionCannotSettle(ctx, prompter);
    process.stdout.write(`${await detectionSummary(ctx, location)}\n\n`);
  }
  const { plan, location } = await planInstall(ctx);
  await planThenApply(ctx, report, plan, location, 'Apply these changes?');
  if (report.changed) report.summary = 'DCC is on.';
  if (report.data['declined'] || ctx.options.dryRun) return;
  let saveTo = options.saveAnswersTo;
  if (!saveTo && prompter && (await prompter.confirm('Save the answers used, to run the same setup unattended on the next server?', false))) {
    saveTo = await prompter.input('Save them to:', DEFAULT_SAVED_ANSWERS, async (v) => (v.trim() ? true : 'give a file name'));
  }
  if (saveTo) {
    await saveAnswers(ctx, saveTo);
    report.data['savedAnswers'] = saveTo;
    report.summary += `\nAnswers saved to ${saveTo}; replay with: kerio-dcc install --answers ${saveTo} --yes`;
  }
}
