import type { Answers } from '../answers/answers.js';
import type { RecordingRunner } from '../system/runner.js';
import type { Target } from '../target/target.js';

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
  answers: Answers;
  /** section.key of answers the user gave (the rest are defaults). */
  given: Set<string>;
  answersFile: string | null;
  options: RunOptions;
  log: Log;
  now: () => Date;
  toolVersion: string;
}
