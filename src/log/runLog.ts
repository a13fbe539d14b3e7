/**
 * The run log: one line per run, so an administrator can see what the unattended runs did.
 * Daily files `C:\ProgramData\kerio-dcc\logs\kerio-dcc-YYYY-MM-DD.log` (UTC dates) inside the
 * admin-only state folder, files older than `[log] keep_days` removed when a line is written;
 * `--log FILE` on any command appends the same line to FILE instead.
 *
 * A line: `time<TAB>command<TAB>outcome<TAB>exit code<TAB>backup id<TAB>message`, tabs and
 * line breaks inside a field written as spaces, `-` for an empty field. UTF-8, CRLF.
 */
import { appendFile, mkdir, readdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { joinWin, type Target, type WinPath } from '../target/target.js';
import { STATE_FOLDER } from '../trust/stateFolder.js';

export const LOG_FOLDER: WinPath = joinWin(STATE_FOLDER, 'logs');
const LOG_FILE = /^kerio-dcc-(\d{4}-\d{2}-\d{2})\.log$/;

export interface RunLine {
  time: Date;
  /** The command as typed, without paths that say nothing (e.g. `install --yes`). */
  command: string;
  /** ok, changed, unchanged, drift, repaired, failed, refused... */
  outcome: string;
  exitCode: number;
  backupId: string | null;
  message: string;
}

function field(text: string): string {
  const flat = text.replace(/[\t\r\n]+/g, ' ').trim();
  return flat === '' ? '-' : flat;
}

export function formatRunLine(line: RunLine): string {
  return (
    [line.time.toISOString(), field(line.command), field(line.outcome), String(line.exitCode), field(line.backupId ?? ''), field(line.message)].join('\t') +
    '\r\n'
  );
}

export function dailyLogName(time: Date): string {
  return `kerio-dcc-${time.toISOString().slice(0, 10)}.log`;
}

/** Appends the line to today's file in the state folder, then removes files older than keepDays. Returns the host path written. */
export async function appendDailyLog(target: Target, line: RunLine, keepDays: number): Promise<string> {
  const folder = target.toHost(LOG_FOLDER);
  // Made inside the state folder (which must exist: admin-only), it inherits its ACL.
  await mkdir(folder).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  const file = path.join(folder, dailyLogName(line.time));
  await appendFile(file, formatRunLine(line), 'utf8');
  await pruneLogs(folder, line.time, keepDays);
  return file;
}

/** Removes daily logs whose date is keepDays or more before `now`'s date; other files are left alone. */
export async function pruneLogs(folder: string, now: Date, keepDays: number): Promise<string[]> {
  const cutoff = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - keepDays + 1)).toISOString().slice(0, 10);
  const removed: string[] = [];
  for (const name of await readdir(folder).catch(() => [] as string[])) {
    const m = LOG_FILE.exec(name);
    if (!m || m[1]! >= cutoff) continue;
    await unlink(path.join(folder, name)).catch(() => undefined);
    removed.push(name);
  }
  return removed;
}

/** `--log FILE`: the same line, appended to a file the administrator named. */
export async function appendLogFile(file: string, line: RunLine): Promise<void> {
  await appendFile(file, formatRunLine(line), 'utf8');
}
