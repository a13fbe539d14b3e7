import { detectFacts } from '../detect/facts.js';
import type { RunContext } from '../model/context.js';
import { planInstall } from '../plans/install.js';
import type { Report } from '../model/report.js';
import { askWhatDetectionCannotSettle, detectionSummary, saveAnswers } from './installWizard.js';
import { planThenApply } from './changeFlow.js';
import { decideLicense, readClientBundle } from '../managed/dccClient.js';
import path from 'node:path';
import { ExitCode, InterruptedError, KerioDccError, UsageError } from '../errors.js';
import { kindOf } from '../fs/files.js';

export const DEFAULT_SAVED_ANSWERS = 'kerio-dcc-answers.ini';

/** Where saved answers may go: a folder that exists, checked before anything is changed. */
async function saveTargetProblem(file: string): Promise<string | null> {
  const folder = path.dirname(path.resolve(file));
  return (await kindOf(folder)) === 'dir' ? null : `the folder ${folder} does not exist`;
}

export async function runInstall(ctx: RunContext, report: Report, options: { saveAnswersTo?: string } = {}): Promise<void> {
  if (options.saveAnswersTo) {
    const problem = await saveTargetProblem(options.saveAnswersTo);
    if (problem)
      throw new UsageError(
        `Cannot save the answers to ${options.saveAnswersTo}: ${problem}.`,
        'Give --save-answers a file in an existing folder. Nothing was changed.',
      );
  }
  const prompter = ctx.options.yes ? null : ctx.ui.prompter;
  // Detected once: what the questions found is what the plan is made from.
  const bundled = ctx.answers.dcc.client === 'bundled';
  const facts = await detectFacts(ctx, { requireDcc: !bundled, location: prompter ? await askWhatDetectionCannotSettle(ctx, prompter) : undefined });
  if (prompter) ctx.ui.say(`${await detectionSummary(ctx, facts)}\n`);
  // client = bundled: DCC's licence is the administrator's decision, asked (or required) before any plan.
  const license = bundled ? await decideLicense(ctx, await readClientBundle()) : undefined;
  const plan = await planInstall(ctx, facts);
  if (license) plan.dccLicense = license;
  const outcome = await planThenApply(ctx, report, plan, facts.location, 'Apply these changes?');
  if (outcome === 'applied') report.summary = 'DCC is on.';
  if (outcome === 'declined' || outcome === 'dry-run') return;
  let saveTo = options.saveAnswersTo;
  if (!saveTo && prompter) {
    try {
      if (await prompter.confirm('Save the answers used, to run the same setup unattended on the next server?', false)) {
        saveTo = await prompter.input('Save them to:', DEFAULT_SAVED_ANSWERS, async (v) =>
          v.trim() ? ((await saveTargetProblem(v.trim())) ?? true) : 'give a file name',
        );
      }
    } catch (err) {
      if (!(err instanceof InterruptedError)) throw err;
      const done = outcome === 'applied' ? 'The changes above were applied' : 'Nothing needed changing';
      throw new KerioDccError(
        ExitCode.interrupted,
        `Interrupted at the prompt. ${done}; the answers were not saved.`,
        'kerio-dcc status shows the state of the server.',
      );
    }
  }
  if (saveTo) {
    await saveAnswers(ctx, saveTo.trim());
    report.data['savedAnswers'] = saveTo;
    report.summary += `\nAnswers saved to ${saveTo}; replay with: kerio-dcc install --answers ${saveTo} --yes`;
  }
}
