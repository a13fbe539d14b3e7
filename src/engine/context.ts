import type { Answers, LoadedAnswers } from '../answers/answers.js';
import type { RecordingRunner } from '../system/runner.js';
import type { Target } from '../target/target.js';
import type { Prompter } from '../ui/prompter.js';

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

/** Progress for the administrator; goes to stderr so that --json keeps stdout clean. */
export interface Log {
  info(message: string): void;
  warn(message: string): void;
  /** A line rewritten in place while waiting (a TTY only); null when there is no TTY. */
  progress: ((message: string) => void) | null;
}

/** Everything a command works with, handed in so that tests can put in their own. */
export interface RunContext {
  target: Target;
  /** Present when system commands can run: on the live system, or with --simulate. */
  runner: RecordingRunner | null;
  /** The answers in force; change them only through `setAnswer` (answers/load.ts) and `refreshAnswers`. */
  answers: Answers;
  /** Where the answers came from and which the user gave: what --save-answers writes. */
  loaded: LoadedAnswers;
  options: RunOptions;
  log: Log;
  /** Asks the administrator; null without a terminal (then the tool never waits for input). */
  prompter: Prompter | null;
  now: () => Date;
  toolVersion: string;
}

/** After a prompt changed an answer, the context works from the new answers. */
export function refreshAnswers(ctx: RunContext): void {
  ctx.answers = ctx.loaded.answers;
}
