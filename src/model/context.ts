import type { Answers, LoadedAnswers } from '../answers/answers.js';
import type { RecordingRunner } from '../system/runner.js';
import type { Target } from '../target/target.js';
import type { Report } from './report.js';

export interface RunOptions {
  dryRun: boolean;
  yes: boolean;
  /** Restart the service even when nothing it reads changed. */
  restart: boolean;
  /** Commands go to the simulated system inside the image instead of being skipped. */
  simulate: boolean;
  /** Rollback only: restore files that were changed since the run being undone. */
  force: boolean;
}

/** Every question the tool asks goes through this, so tests can script the answers. */
export interface Prompter {
  /** Asks for text; `validate` returns true or the sentence saying what is wrong (asked again). */
  input(message: string, defaultValue: string, validate: (value: string) => Promise<true | string>): Promise<string>;
  confirm(message: string, defaultValue: boolean): Promise<boolean>;
}

/**
 * Everything a command says to the administrator while it runs, and every question it asks.
 * Commands never write to stdout themselves: the ui/ layer implements this (a terminal, or a
 * script's --json run), and renders the final report in one place.
 */
export interface Ui {
  /** Progress; goes to stderr so that --json keeps stdout clean. */
  info(message: string): void;
  warn(message: string): void;
  /** A line rewritten in place while waiting (a TTY only); null when there is no TTY. */
  progress: ((message: string) => void) | null;
  /** Text the administrator reads before a question (what was detected, what is wrong). */
  say(text: string): void;
  /** The plan with its diffs, before asking whether to apply it. */
  showPlan(report: Report): void;
  /** Asks the administrator; null without a terminal (then the tool never waits for input). */
  prompter: Prompter | null;
}

/** What planning and detection read: the target, the answers, the system commands, the options. */
export interface Planning {
  target: Target;
  /** Present when system commands can run: on the live system, or with --simulate. */
  runner: RecordingRunner | null;
  answers: Answers;
  options: RunOptions;
}

/** Everything a command works with, handed in so that tests can put in their own. */
export interface RunContext extends Planning {
  /** The answers in force; change them only through `setAnswer` (answers/load.ts) and `refreshAnswers`. */
  answers: Answers;
  /** Where the answers came from and which the user gave: what --save-answers writes. */
  loaded: LoadedAnswers;
  ui: Ui;
  now: () => Date;
  toolVersion: string;
}

/** After a prompt changed an answer, the context works from the new answers. */
export function refreshAnswers(ctx: RunContext): void {
  ctx.answers = ctx.loaded.answers;
}
