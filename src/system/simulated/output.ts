/** What every simulated tool answers with: CRLF lines, an exit code, and a loud refusal of calls it does not model. */
import type { CommandResult } from '../runner.js';

export const CRLF = '\r\n';

export function lines(...texts: string[]): string {
  return texts.join(CRLF) + CRLF;
}

export function result(exitCode: number, stdout: string, stderr = ''): CommandResult {
  return { exitCode, stdout, stderr, timedOut: false };
}

/** A call the simulation does not model: loud, so a new command is never silently "succeeding". */
export function unsupported(program: string, args: string[]): CommandResult {
  return result(87, '', `simulated ${program} does not handle: ${[program, ...args].join(' ')}${CRLF}`);
}
