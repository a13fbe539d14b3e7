import type { CommandRequest, CommandResult, CommandRunner } from '../../src/system/runner.js';

/** What a fake call returns; missing fields default to exit 0 and empty output. */
export type FakeReply = Partial<CommandResult>;

/**
 * One row of the table: an exact program and argument list, and what it returns. With
 * several replies, successive calls get successive replies and the last one repeats
 * (so a service can be "still STOP_PENDING" for as long as it is asked).
 */
export interface FakeRow {
  program: string;
  args: string[];
  reply: FakeReply | FakeReply[];
}

function sameCall(row: FakeRow, request: CommandRequest): boolean {
  return row.program === request.program && row.args.length === request.args.length && row.args.every((a, i) => a === request.args[i]);
}

function show(program: string, args: string[]): string {
  return `${program} ${JSON.stringify(args)}`;
}

/** A table-driven CommandRunner: exact matches only, anything else fails the test loudly. */
export class FakeRunner implements CommandRunner {
  readonly calls: CommandRequest[] = [];
  private readonly served = new Map<FakeRow, number>();

  constructor(
    private readonly rows: FakeRow[],
    readonly simulated = false,
  ) {}

  async run(request: CommandRequest): Promise<CommandResult> {
    this.calls.push({ ...request, args: [...request.args] });
    const row = this.rows.find((r) => sameCall(r, request));
    if (!row) {
      throw new Error(
        `FakeRunner: unexpected call ${show(request.program, request.args)}\nknown calls:\n` + this.rows.map((r) => `  ${show(r.program, r.args)}`).join('\n'),
      );
    }
    const replies = Array.isArray(row.reply) ? row.reply : [row.reply];
    const count = this.served.get(row) ?? 0;
    this.served.set(row, count + 1);
    const reply = replies[Math.min(count, replies.length - 1)] ?? {};
    return { exitCode: 0, stdout: '', stderr: '', timedOut: false, ...reply };
  }

  /** The calls as `program arg arg`, for readable assertions. */
  get commandLines(): string[] {
    return this.calls.map((c) => [c.program, ...c.args].join(' '));
  }

  /** How many calls had exactly these arguments (any program). */
  countCalls(args: string[]): number {
    return this.calls.filter((c) => c.args.length === args.length && c.args.every((a, i) => a === args[i])).length;
  }

  /** Rows never called: a test can assert that every scripted command really ran. */
  get unusedRows(): FakeRow[] {
    return this.rows.filter((r) => !this.served.has(r));
  }
}
