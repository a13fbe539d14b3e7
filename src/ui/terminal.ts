import type { Ui } from '../model/context.js';
import { toHuman } from './render.js';
import { inquirerPrompter, isInteractive } from './prompter.js';

/**
 * The administrator's console: progress and warnings on stderr (so that --json keeps stdout
 * clean), text before a question and the plan on stdout, questions only on a terminal and
 * never for a script (--json).
 */
export function terminalUi(options: { json: boolean }): Ui {
  const tty = Boolean(process.stderr.isTTY);
  return {
    info: (m) => process.stderr.write(`${m}\n`),
    warn: (m) => process.stderr.write(`warning: ${m}\n`),
    progress: tty ? (m) => process.stderr.write(`\r\x1b[K${m}`) : null,
    say: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    showPlan: (report) => {
      process.stdout.write(`${toHuman(report)}\n`);
      report.planShown = true;
    },
    prompter: isInteractive() && !options.json ? inquirerPrompter() : null,
  };
}
