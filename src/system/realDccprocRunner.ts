import { basenameWin } from '../target/target.js';
import type { CommandRequest, CommandResult, CommandRunner } from './runner.js';

/**
 * `--simulate` on a machine's own files (no --root): the Windows tools are simulated,
 * but the files are real, so the dccproc.exe they name is a real program and runs for real
 * (the doctor's self-test asks the real DCC servers). Only an image gets the simulated dccproc.
 */
export class RealDccprocRunner implements CommandRunner {
  readonly simulated = true;

  constructor(
    private readonly simulatedRunner: CommandRunner,
    private readonly live: CommandRunner,
  ) {}

  simulates(program: string): boolean {
    return !isDccproc(program);
  }

  run(request: CommandRequest): Promise<CommandResult> {
    return (isDccproc(request.program) ? this.live : this.simulatedRunner).run(request);
  }
}

/** DCC's own programs: dccproc.exe, and cdcc.exe (the bundled client's map, and doctor's look at it). */
function isDccproc(program: string): boolean {
  const name = basenameWin(program).toLowerCase();
  return name === 'dccproc.exe' || name === 'cdcc.exe';
}
