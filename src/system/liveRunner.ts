import { execa } from 'execa';
import { codePageOnce, decodeResult, oemCodePageRequest, type RawResult } from './codePage.js';
import type { CommandRequest, CommandResult, CommandRunner } from './runner.js';

const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * Runs real programs with an argument array; no shell ever parses our arguments. On Windows
 * their output is decoded in the machine's OEM code page (codePage.ts), found with reg.exe
 * under `systemRoot` the first time a program's output needs it; elsewhere it is UTF-8.
 */
export class LiveRunner implements CommandRunner {
  readonly simulated = false;
  private readonly oemCodePage: () => Promise<number | 'utf8'>;

  constructor(systemRoot: string | null = null) {
    const find = systemRoot !== null && process.platform === 'win32' ? codePageOnce(() => this.runRaw(oemCodePageRequest(systemRoot))) : null;
    this.oemCodePage = find ?? (async () => 'utf8');
  }

  async run(request: CommandRequest): Promise<CommandResult> {
    return decodeResult(await this.runRaw(request), request.output ?? 'oem', this.oemCodePage);
  }

  private async runRaw(request: CommandRequest): Promise<RawResult> {
    const result = await execa(request.program, request.args, {
      reject: false,
      shell: false,
      stdin: 'ignore',
      windowsHide: true,
      timeout: request.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      encoding: 'buffer',
      stripFinalNewline: false,
    });
    if (result.failed && result.exitCode === undefined && !result.timedOut) {
      // The program could not be started at all (not found, not executable).
      const why = result.shortMessage ?? 'could not start the program';
      return { exitCode: 127, stdout: Buffer.alloc(0), stderr: Buffer.from(why, 'utf8'), timedOut: false };
    }
    return {
      exitCode: result.exitCode ?? 1,
      stdout: Buffer.from(result.stdout ?? new Uint8Array()),
      stderr: Buffer.from(result.stderr ?? new Uint8Array()),
      timedOut: Boolean(result.timedOut),
    };
  }
}
