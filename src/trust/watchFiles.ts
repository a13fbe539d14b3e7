/**
 * Where the watch task's files live: the admin-only state folder. Its own module (no other
 * imports) so the backup store can allow exactly these paths in a manifest.
 */
import { joinWin, normalizeWin, type WinPath } from '../target/target.js';
import { STATE_FOLDER } from './stateFolder.js';

export const WATCH_FOLDER: WinPath = joinWin(STATE_FOLDER, 'watch');
/** The answers the task runs with: a copy of the administrator's file, where only administrators can write. */
export const ANSWERS_COPY: WinPath = joinWin(WATCH_FOLDER, 'answers.ini');
/** The task definition it was registered from (schtasks /Create /XML). */
export const TASK_FILE: WinPath = joinWin(WATCH_FOLDER, 'task.xml');
/** What the last repair run did: written by it, read by status. */
export const LAST_RUN: WinPath = joinWin(WATCH_FOLDER, 'last-run.json');

/** True for the watch folder and the files kerio-dcc keeps in it: all a backup may name there. */
export function isWatchPath(p: WinPath): boolean {
  const n = normalizeWin(p).toLowerCase();
  return [WATCH_FOLDER, ANSWERS_COPY, TASK_FILE, LAST_RUN].some((w) => w.toLowerCase() === n);
}
