/**
 * Which runs get a line in the run log, and where: every run of the repair the watch task
 * runs, and every run that changed something (install, uninstall, rollback, backups --secure,
 * watch) in the daily file of the state folder; with `--log FILE`, any command's line in
 * FILE too. Logging never changes a run's outcome: a line that cannot be written is
 * a warning on stderr.
 */
import { lstat } from 'node:fs/promises';
import type { ParsedCommand } from './args.js';
import type { Report } from '../model/report.js';
import type { RunContext } from '../model/context.js';
import { errnoCode } from '../errors.js';
import { basenameWin, Target } from '../target/target.js';
import { LOG_FOLDER, appendDailyLog, appendLogFile, dailyLogName, type RunLine } from '../log/runLog.js';
import { joinWin } from '../target/target.js';
import { kindOf } from '../fs/files.js';
import { STATE_FOLDER } from '../trust/stateFolder.js';

const DEFAULT_KEEP_DAYS = 30;
const LOGGED = new Set(['install', 'uninstall', 'rollback', 'watch']);

function commandWords(parsed: ParsedCommand): string {
  const flags = Object.entries(parsed.values)
    .filter(([k, v]) => v === true && k !== 'json')
    .map(([k]) => `--${k}`);
  return [parsed.name, ...parsed.positionals, ...flags].join(' ');
}

function outcomeOf(report: Report): string {
  const said = report.data['outcome'];
  if (typeof said === 'string') return said;
  if (report.data['declined']) return 'declined';
  if (report.exitCode !== 0) return report.exitCode === 6 ? 'drift' : 'failed';
  return report.changed ? 'changed' : 'unchanged';
}

export function runLine(parsed: ParsedCommand, report: Report, time: Date): RunLine {
  const message = report.error ? report.error.message : (report.summary.split('\n').filter(Boolean).pop() ?? '');
  return {
    time,
    command: commandWords(parsed),
    outcome: outcomeOf(report),
    exitCode: report.exitCode,
    backupId: report.backup ? basenameWin(report.backup) : null,
    message,
  };
}

/** A link where the log goes is never followed: something planted it. */
async function isLink(hostPath: string): Promise<boolean> {
  try {
    return (await lstat(hostPath)).isSymbolicLink();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

async function targetOf(parsed: ParsedCommand, ctx: RunContext | null): Promise<Target | null> {
  if (ctx) return ctx.target;
  if (typeof parsed.values['root'] === 'string') return new Target({ root: parsed.values['root'] });
  return process.platform === 'win32' ? (await import('./context.js')).liveTarget() : null;
}

export async function recordRun(parsed: ParsedCommand, report: Report, ctx: RunContext | null): Promise<void> {
  const line = runLine(parsed, report, ctx?.now() ?? new Date());
  const warn = (what: string, err: unknown) => process.stderr.write(`warning: the run log ${what} could not be written (${(err as Error).message})\n`);
  const file = parsed.values['log'];
  if (typeof file === 'string') await appendLogFile(file, line).catch((err) => warn(file, err));
  const changing = LOGGED.has(parsed.name) || (parsed.name === 'backups' && parsed.values['secure'] === true);
  const repair = parsed.name === 'watch' && parsed.values['run'] === true;
  // Every run of the scheduled repair, and every run that changed something (it made a
  // backup, also when a failure was then restored). A run refused before any change leaves
  // the server byte for byte as it was, its state folder included: it has stderr and --log.
  if (!changing || parsed.values['dry-run'] === true || (!repair && report.backup === null)) return;
  if (!ctx && !repair) return;
  const target = await targetOf(parsed, ctx);
  // Only into a state folder kerio-dcc made (admin-only): a log line never creates one.
  if (!target || (await kindOf(target.toHost(STATE_FOLDER))) !== 'dir') return;
  const folder = target.toHost(LOG_FOLDER);
  try {
    if ((await isLink(folder)) || (await isLink(target.toHost(joinWin(LOG_FOLDER, dailyLogName(line.time))))))
      throw new Error('it is a link or junction, which kerio-dcc never follows');
    await appendDailyLog(target, line, ctx?.answers.log.keepDays ?? DEFAULT_KEEP_DAYS);
  } catch (err) {
    warn(`in ${LOG_FOLDER}`, err);
  }
}
