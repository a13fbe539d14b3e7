import { ExitCode, KerioDccError, UsageError } from '../errors.js';
import { TOOL_VERSION } from '../version.js';
import { COMMANDS, commandHelp, generalHelp, parseCommand, type ParsedCommand } from './args.js';
import type { RunContext } from '../model/context.js';
import { newReport, type Report } from '../model/report.js';
import { toHuman, toJson } from '../ui/render.js';

type Handler = (parsed: ParsedCommand, report: Report) => Promise<void>;

/** Commands that work on a target: they get a context (answers, target, runner). */
const HANDLERS: Record<string, Handler> = {
  install: async (parsed, report) => {
    await withContext(parsed, report, async (ctx) => {
      const saveAnswersTo = typeof parsed.values['save-answers'] === 'string' ? parsed.values['save-answers'] : undefined;
      await (await import('../commands/install.js')).runInstall(ctx, report, { saveAnswersTo });
    });
  },
  uninstall: async (parsed, report) => {
    await withContext(parsed, report, async (ctx) => (await import('../commands/uninstall.js')).runUninstall(ctx, report));
  },
  rollback: async (parsed, report) => {
    await withContext(parsed, report, async (ctx) => (await import('../commands/rollback.js')).runRollback(ctx, report, parsed.positionals[0]));
  },
  backups: async (parsed, report) => {
    if (parsed.values['secure'] === true && parsed.values['verify'] === true)
      throw new UsageError('backups takes --secure or --verify, not both.', 'Run backups --secure first, then backups --verify.');
    await withContext(parsed, report, async (ctx) => {
      if (parsed.values['secure'] === true) await (await import('../commands/secure.js')).runSecure(ctx, report);
      else await (await import('../commands/backups.js')).runBackups(ctx, report, parsed.values['verify'] === true);
    });
  },
  status: async (parsed, report) => {
    await withContext(parsed, report, async (ctx) => (await import('../commands/status.js')).runStatus(ctx, report));
  },
  doctor: async (parsed, report) => {
    const timeout = parsed.values['timeout'] === undefined ? undefined : Number(parsed.values['timeout']);
    if (timeout !== undefined && !(Number.isInteger(timeout) && timeout >= 1 && timeout <= 600)) {
      throw new UsageError(`--timeout takes whole seconds from 1 to 600, not "${parsed.values['timeout']}".`);
    }
    await withContext(parsed, report, async (ctx) => {
      const doctor = await import('../commands/doctor.js');
      await doctor.runDoctor(ctx, report, timeout ?? doctor.DOCTOR_TIMEOUT_SECONDS);
    });
  },
  watch: async (parsed, report) => {
    const v = parsed.values;
    if ([v['remove'], v['run']].filter((x) => x === true).length > 1)
      throw new UsageError('watch takes --remove or --run, not both.', 'Run `kerio-dcc watch --help` for its options.');
    const watch = await import('../commands/watch.js');
    if (v['remove'] === true) return withContext(parsed, report, (ctx) => watch.runWatchRemove(ctx, report));
    if (v['run'] !== true) return withContext(parsed, report, (ctx) => watch.runWatch(ctx, report));
    try {
      await withContext(parsed, report, async (ctx) => (await import('../commands/repair.js')).runRepair(ctx, report));
    } catch (err) {
      // The answers the task runs with are broken or gone: nothing can be checked, but monitoring must hear of it.
      if (err instanceof UsageError && !contexts.has(report)) await (await import('./brokenAnswers.js')).reportBrokenAnswers(parsed, report, err);
      throw err;
    }
  },
  demo: async (parsed, report) => {
    const { buildContext } = await import('./context.js');
    await (
      await import('../commands/demo.js')
    ).runDemo(report, (root) => buildContext({ name: 'install', values: { root, simulate: true, yes: true, json: parsed.values['json'] }, positionals: [] }));
  },
};

/** The context of each run, for the run log written after it ended. */
const contexts = new WeakMap<Report, RunContext>();

async function withContext(parsed: ParsedCommand, report: Report, run: (ctx: RunContext) => Promise<void>): Promise<void> {
  const { buildContext } = await import('./context.js');
  const ctx = await buildContext(parsed);
  contexts.set(report, ctx);
  report.target = ctx.target.describe();
  report.simulated = ctx.runner?.simulated ?? false;
  report.dryRun = ctx.options.dryRun;
  // backups --secure is the fix for an untrusted folder: it judges the folders itself, and reads nothing in an unsafe one.
  const securing = parsed.name === 'backups' && parsed.values['secure'] === true;
  const changing = CHANGING_COMMANDS.has(parsed.name);
  // Nothing in the state folder is believed (the lock, an unfinished run, a backup) before it is known to be safe.
  if (!securing && parsed.name !== 'status' && parsed.name !== 'doctor') {
    await (await import('../trust/stateFolder.js')).requireTrusted(ctx, report.warnings);
  }
  const lock =
    (changing || securing) && !ctx.options.dryRun
      ? await (await import('../store/lock.js')).acquireLock(ctx, securing ? 'backups --secure' : parsed.name)
      : null;
  try {
    if (changing) {
      const recovered = await (await import('../engine/recover.js')).recoverUnfinishedRun(ctx);
      if (recovered) report.warnings.push(recovered);
    }
    await run(ctx);
  } finally {
    report.commands = ctx.runner?.records ?? [];
    await lock?.release();
  }
}

/** Commands that change the server: one at a time (a lock), and never after an unfinished run. */
const CHANGING_COMMANDS = new Set(['install', 'uninstall', 'rollback', 'watch']);

function write(stream: NodeJS.WriteStream, text: string): void {
  stream.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** Runs one command line and returns the exit code; every error is mapped to a code here and only here. */
export async function main(argv: string[]): Promise<number> {
  // A reader that stops early (`| more`, a closed pipe) is not an error of ours.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    write(process.stdout, generalHelp(TOOL_VERSION));
    return name === undefined ? ExitCode.usage : ExitCode.ok;
  }
  if (name === '--version' || name === '-V') {
    write(process.stdout, TOOL_VERSION);
    return ExitCode.ok;
  }
  const json = rest.includes('--json');
  const report = newReport(name);
  let parsed: ParsedCommand | null = null;
  try {
    parsed = parseCommand(name, rest);
    if (parsed.values['help']) {
      write(process.stdout, commandHelp(name));
      return ExitCode.ok;
    }
    if (name === 'answers') {
      process.stdout.write((await import('../commands/answersTemplate.js')).answersTemplate());
      return ExitCode.ok;
    }
    const handler = HANDLERS[name];
    if (!handler) throw new KerioDccError(ExitCode.usage, `The command "${name}" is not available yet.`, `Commands: ${Object.keys(COMMANDS).join(', ')}.`);
    await handler(parsed, report);
  } catch (err) {
    report.ok = false;
    if (err instanceof KerioDccError) {
      report.exitCode = err.exitCode;
      report.error = { message: err.message, hint: err.hint ?? null };
    } else {
      report.exitCode = ExitCode.unexpected;
      report.error = {
        message: `Unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
        hint: 'Please report this. If the server was changed, `kerio-dcc rollback` restores it from the newest backup.',
      };
    }
  }
  if (parsed) await (await import('./recordRun.js')).recordRun(parsed, report, contexts.get(report) ?? null);
  if (json) write(process.stdout, toJson(report));
  else {
    if (report.steps.length || report.summary) write(process.stdout, toHuman(report));
    if (report.error) write(process.stderr, `error: ${report.error.message}${report.error.hint ? `\n${report.error.hint}` : ''}`);
  }
  return report.exitCode;
}
