/**
 * `kerio-dcc watch --run`: what the scheduled task runs. `status`; if DCC is fully on,
 * nothing else (an information event at most once a day); if it drifted, `install` with the
 * saved answers, unattended, unless the fix needs a Kerio restart that `[watch] restart`
 * does not allow now (then nothing is changed and an error event says so). Every run writes
 * a line in the run log (cli/main.ts) and what it did to last-run.json (status shows it).
 *
 * Exit codes: 0 on or repaired; 6 off and not repaired (waiting for the window, restart
 * never, or nothing install can change); a failed repair keeps install's code (3, 4, 5);
 * a missing or broken answers file 2.
 */
import type { Report } from '../model/report.js';
import type { RunContext } from '../model/context.js';
import { planInstall } from '../plans/install.js';
import { detectFacts } from '../detect/facts.js';
import { planChanges } from '../model/plan.js';
import { ExitCode, KerioDccError } from '../errors.js';
import { readLastRun, writeLastRun } from '../managed/watchTask.js';
import { statusChecks } from '../status/checks.js';
import { basenameWin } from '../target/target.js';
import { writeEvent, type EventName } from '../windows/eventLog.js';
import { planThenApply } from './changeFlow.js';
import { serverName } from './watch.js';

/** Minutes since midnight of HH:MM. */
function minutes(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

/** Whether a local time is inside HH:MM-HH:MM (start included, end excluded; a window may pass midnight). */
export function insideWindow(now: Date, window: string): boolean {
  const at = now.getHours() * 60 + now.getMinutes();
  const start = minutes(window.slice(0, 5));
  const end = minutes(window.slice(6, 11));
  return start < end ? at >= start && at < end : at >= start || at < end;
}

/** Why a restart may not happen now, or null when it may. */
export function restartRefusal(ctx: RunContext): string | null {
  const { restart, window } = ctx.answers.watch;
  if (restart === 'never') return 'the repair needs a Kerio restart, and [watch] restart = never (report only)';
  if (restart === 'window' && !insideWindow(ctx.now(), window))
    return `the repair needs a Kerio restart, which [watch] restart = window allows only between ${window} (server time); it waits for the window`;
  return null;
}

export async function runRepair(ctx: RunContext, report: Report): Promise<void> {
  ctx.options.yes = true;
  const reported = { done: false };
  try {
    await repair(ctx, report, reported);
  } catch (err) {
    // Anything that stopped the run before it said why (Kerio not found, a refused plan, a failed apply): the error event.
    if (!reported.done) {
      const code = err instanceof KerioDccError ? err.exitCode : ExitCode.unexpected;
      await record(ctx, report, {
        outcome: 'failed',
        event: 'repairFailed',
        message: `kerio-dcc could not check or repair DCC on ${serverName()}: ${(err as Error).message}`,
        exitCode: code,
      });
    }
    throw err;
  }
}

interface RunRecord {
  outcome: string;
  event: EventName | null;
  message: string;
  exitCode?: number;
  allOnEventDay?: string | null;
}

/** The end of every run: the event (when there is one), and last-run.json for status. Never in a dry run. */
async function record(ctx: RunContext, report: Report, run: RunRecord): Promise<void> {
  report.data['outcome'] = run.outcome;
  if (ctx.options.dryRun) return;
  if (run.event && ctx.runner) {
    const problem = await writeEvent(ctx.runner, ctx.target, run.event, run.message);
    if (problem) report.warnings.push(problem);
  }
  const last = await readLastRun(ctx);
  await writeLastRun(ctx, {
    time: ctx.now().toISOString(),
    outcome: run.outcome,
    exitCode: run.exitCode ?? 0,
    backupId: report.backup ? basenameWin(report.backup) : null,
    message: run.message,
    allOnEventDay: run.allOnEventDay ?? last?.allOnEventDay ?? null,
  }).catch((err: unknown) => report.warnings.push(`could not record the run for status (${(err as Error).message})`));
}

async function repair(ctx: RunContext, report: Report, reported: { done: boolean }): Promise<void> {
  const server = serverName();
  const last = await readLastRun(ctx);
  const today = ctx.now().toISOString().slice(0, 10);
  const finish = async (
    outcome: string,
    event: EventName | null,
    message: string,
    extra: { exitCode?: number; allOnEventDay?: string | null } = {},
  ): Promise<void> => {
    reported.done = true;
    await record(ctx, report, { outcome, event, message, ...extra });
  };

  const { checks } = await statusChecks(ctx);
  report.data['checks'] = checks;
  // The watch check is about this very task; the repair acts on what DCC needs.
  const drifted = checks.filter((c) => c.ok === false && c.id !== 'watch');
  if (drifted.length === 0) {
    report.summary = 'DCC is on: nothing to repair.';
    const announce = last?.allOnEventDay !== today;
    await finish('on', announce ? 'allOn' : null, `kerio-dcc checked DCC on ${server}: it is on. Nothing was changed.`, {
      allOnEventDay: announce ? today : (last?.allOnEventDay ?? null),
    });
    return;
  }
  const what = drifted.map((c) => `${c.title} (${c.detail})`).join('; ');
  const facts = await detectFacts(ctx, { requireDcc: true });
  const plan = await planInstall(ctx, facts);
  const location = facts.location;
  const fail = async (outcome: string, event: EventName, message: string, code: number, hint: string): Promise<never> => {
    await finish(outcome, event, message, { exitCode: code });
    throw new KerioDccError(code as typeof ExitCode.drift, message, hint);
  };
  if (!planChanges(plan)) {
    await fail(
      'failed',
      'repairFailed',
      `DCC is not fully on on ${server}, and install has nothing to change: ${what}.`,
      ExitCode.drift,
      'kerio-dcc status shows the details. Nothing was changed.',
    );
  }
  const restarts = plan.steps.some((s) => s.id === 'service' && s.status === 'change');
  const refusal = restarts ? restartRefusal(ctx) : null;
  if (refusal) {
    await fail(
      'waiting',
      'restartNotAllowed',
      `DCC is off on ${server} (${what}); not repaired: ${refusal}. Nothing was changed.`,
      ExitCode.drift,
      `To repair it now: kerio-dcc install --answers <the answers file> --yes, or wait for the next run inside the window.`,
    );
  }
  try {
    await planThenApply(ctx, report, plan, location, '');
  } catch (err) {
    const code = err instanceof KerioDccError ? err.exitCode : ExitCode.unexpected;
    await finish('failed', 'repairFailed', `kerio-dcc could not repair DCC on ${server} (${what}): ${(err as Error).message}`, { exitCode: code });
    throw err;
  }
  const id = report.backup ? basenameWin(report.backup) : '-';
  report.summary = `DCC was off and is repaired (backup ${id}).`;
  await finish(
    'repaired',
    'repaired',
    `kerio-dcc found DCC off on ${server} and repaired it. Drifted: ${what}. Backup ${id} (undo with kerio-dcc rollback ${id}).`,
  );
}
