import type { WinPath } from '../target/target.js';
import { faultPoint } from '../fault.js';

/** One external program call: an absolute program path and an argument array, never a shell string. */
export interface CommandRequest {
  program: WinPath;
  args: string[];
  /** True when the command changes the system; such commands never run in a dry run. */
  mutates: boolean;
  /** Milliseconds before the process is killed; defaults to the runner's own limit. */
  timeoutMs?: number;
  /** What the program prints in (codePage.ts); absent: the machine's OEM code page, as console tools do. */
  output?: 'oem' | 'utf8';
}

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** True when the process was killed for running past its time limit. */
  timedOut: boolean;
}

/** What the JSON output records of every command, so an administrator can audit a run. */
export interface CommandRecord {
  program: string;
  args: string[];
  mutates: boolean;
  exitCode: number | null;
  simulated: boolean;
}

export interface CommandRunner {
  readonly simulated: boolean;
  /** For a runner that simulates some programs and runs others for real: whether this one is simulated. */
  simulates?(program: string): boolean;
  run(request: CommandRequest): Promise<CommandResult>;
}

/**
 * The single choke point for external commands: records every call, and refuses to run
 * a changing command during a dry run (so a planning bug can never change a server).
 */
export class RecordingRunner implements CommandRunner {
  readonly records: CommandRecord[] = [];

  constructor(
    private readonly inner: CommandRunner,
    private readonly dryRun: boolean,
  ) {}

  get simulated(): boolean {
    return this.inner.simulated;
  }

  async run(request: CommandRequest): Promise<CommandResult> {
    const record: CommandRecord = {
      program: request.program,
      args: [...request.args],
      mutates: request.mutates,
      exitCode: null,
      simulated: this.inner.simulates?.(request.program) ?? this.inner.simulated,
    };
    this.records.push(record);
    faultPoint(`command ${request.program} ${request.args.join(' ')}`);
    if (this.dryRun && request.mutates) {
      throw new Error(`internal: dry run tried to run a changing command: ${request.program} ${request.args.join(' ')}`);
    }
    const result = await this.inner.run(request);
    record.exitCode = result.exitCode;
    return result;
  }
}
