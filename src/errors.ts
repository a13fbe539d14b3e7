/**
 * Exit codes are a contract with administrators' scripts: they are defined here and
 * nowhere else, and README.md documents each one.
 */
export const ExitCode = {
  ok: 0,
  unexpected: 1,
  usage: 2,
  precondition: 3,
  restored: 4,
  restoreIncomplete: 5,
  drift: 6,
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** An error the user can act on: a message naming the problem, a hint naming the fix. */
export class KerioDccError extends Error {
  constructor(
    readonly exitCode: ExitCodeValue,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'KerioDccError';
  }
}

/** Bad command line or answers file: nothing was changed (exit 2). */
export class UsageError extends KerioDccError {
  constructor(message: string, hint?: string) {
    super(ExitCode.usage, message, hint);
  }
}

/** Something on the server is not as it must be before we start: nothing was changed (exit 3). */
export class PreconditionError extends KerioDccError {
  constructor(message: string, hint?: string) {
    super(ExitCode.precondition, message, hint);
  }
}

/** The administrator pressed Ctrl-C at a question (exit 130). */
export class InterruptedError extends KerioDccError {
  constructor() {
    super(ExitCode.interrupted, 'Interrupted at the prompt.', 'Nothing was changed.');
  }
}

/** Many answers-file problems reported at once, each with its section.key and line. */
export class AnswersError extends UsageError {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(
      `${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'} in the answers file:\n` + problems.map((p) => `  - ${p}`).join('\n'),
      'Fix the lines named above; `kerio-dcc answers` prints a template with every key and its default.',
    );
  }
}

/** Errno-like codes from Node's fs, for the places that must tell them apart. */
export function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
