import type { RunContext } from '../engine/context.js';
import { planInstall } from '../engine/installPlan.js';
import type { Report } from '../cli/report.js';
import { askWhatDetectionCannotSettle, detectionSummary, saveAnswers } from '../cli/wizard.js';
import { planThenApply } from './changeFlow.js';
import { decideLicense, readClientBundle } from '../managed/dccClient.js';
import path from 'node:path';
import { ExitCode, KerioDccError, UsageError } from '../errors.js';
import { kindOf } from '../fs/files.js';
import { InterruptedError } from '../cli/interactive.js';

export const DEFAULT_SAVED_ANSWERS = 'kerio-dcc-answers.ini';

/** Where saved answers may go: a folder that exists, checked before anything is changed. */
async function saveTargetProblem(file: string): Promise<string | null> {
  const folder = path.dirname(path.resolve(file));
  return (await kindOf(folder)) === 'dir' ? null : `the folder ${folder} does not exist`;
}

export async function runInstall(ctx: RunContext, report: Report, options: { saveAnswersTo?: string } = {}): Promise<void> {
  if (options.saveAnswersTo) {
    const problem = await saveTargetProblem(options.saveAnswersTo);
    if (problem) throw new UsageError(`Cannot save the answers to ${options.saveAnswersTo}: ${problem}.`, 'Give --save-answers a file in an existing folder. Nothing was changed.');
  }
  const prompter = ctx.options.yes ? null : ctx.prompter;
  if (prompter) {
    const location = await askWhatDetectionCannotSettle(ctx, prompter);
    process.stdout.write(`${await detectionSummary(ctx, location)}\n\n`);
  }
  const license = ctx.answers.dcc.client === 'bundled' ? await decideLicense(ctx, await readClientBundle()) : undefined;
  const { plan, location } = await planInstall(ctx, license);
  await planThenApply(ctx, report, plan, location, 'Apply these changes?');
  if (report.changed) report.summary = 'DCC is on.';
  if (report.data['declined'] || ctx.options.dryRun) return;
  let saveTo = options.saveAnswersTo;
  if (!saveTo && prompter) {
    try {
      if (await prompter.confirm('Save the answers used, to run the same setup unattended on the next server?', false)) {
        saveTo = await prompter.input('Save them to:', DEFAULT_SAVED_ANSWERS, async (v) => (v.trim() ? ((await saveTargetProblem(v.trim())) ?? true) : 'give a file name'));
      }
    } catch (err) {
      if (!(err instanceof InterruptedError)) throw err;
      const done = report.changed ? 'The changes above were applied' : 'Nothing needed changing';
      throw new KerioDccError(ExitCode.interrupted, `Interrupted at the prompt. ${done}; the answers were not saved.`, 'kerio-dcc status shows the state of the server.');
    }
  }
  if (saveTo) {
    await saveAnswers(ctx, saveTo.trim());
    report.data['savedAnswers'] = saveTo;
    report.summary += `\nAnswers saved to ${saveTo}; replay with: kerio-dcc install --answers ${saveTo} --yes`;
  }
}
