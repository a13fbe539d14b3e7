import { execa } from 'execa';
import type { CommandRequest, CommandResult, CommandRunner } from './runner.js';

const DEFAULT_TIMEOUT_MS = 60_000;

/** Runs real programs with an argument array; no shell ever parses our arguments. */
export class LiveRunner implements CommandRunner {
  readonly simulated = false;

  async run(request: CommandRequest): Promise<CommandResult> {
    const result = await execa(request.program, request.args, {
      reject: false,
      shell: false,
      stdin: 'ignore',
      windowsHide: true,
      timeout: request.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      encoding: 'utf8',
      stripFinalNewline: false,
    });
    if (result.failed && result.exitCode === undefined && !result.timedOut) {
      // The program could not be started at all (not found, not executable).
      return { exitCode: 127, stdout: '', stderr: result.shortMessage ?? "could not start the program", timedOut: false };
    }
    return {
      exitCode: result.exitCode ?? 1,
      stdout: String(result.stdout ?? ''),
      stderr: String(result.stderr ?? ''),
      timedOut: Boolean(result.timedOut),
    };
  }
}
