/**
 * The watch task, as a thing kerio-dcc manages: the scheduled task `\kerio-dcc\repair`, the
 * task file it was registered from and the answers file it runs with, both in the admin-only
 * state folder (C:\ProgramData\kerio-dcc\watch). An answers file ordinary users could edit
 * would let them steer a task that runs as SYSTEM, so the task never reads the one the
 * administrator gave: `watch` copies it here, and the task's command line names the copy.
 *
 * The files are written by ordinary file actions, so the backup holds the ones replaced and
 * a rollback puts them back; the task itself follows its file (planTaskRestore).
 */
import path from 'node:path';
import type { Planning } from '../model/context.js';
import { step, type Action, type Check, type StepPlan } from '../model/plan.js';
import { kindOf, readIfExists } from '../fs/files.js';
import { atomicWrite, isLeftoverTemp } from '../fs/atomicWrite.js';
import { readdir, unlink } from 'node:fs/promises';
import { basenameWin, normalizeWin, type WinPath } from '../target/target.js';
import { IS_EXECUTABLE } from '../templates.js';
import { ANSWERS_COPY, LAST_RUN, TASK_FILE, WATCH_FOLDER } from '../trust/watchFiles.js';
import { systemTool } from '../windows/tools.js';
import {
  BOOT_DELAY_MINUTES,
  TASK_NAME,
  createTaskRequest,
  deleteTaskRequest,
  queryTask,
  taskFileBytes,
  taskFingerprint,
  taskXml,
  type TaskSpec,
} from '../windows/scheduledTask.js';

export { ANSWERS_COPY, LAST_RUN, TASK_FILE, WATCH_FOLDER } from '../trust/watchFiles.js';

const TITLE = 'scheduled repair (watch)';
const BOOT_NOTE = `at boot (after ${BOOT_DELAY_MINUTES} minutes)`;
const NO_SYSTEM = 'a scheduled task cannot be read or registered on an image without --simulate';

/** The program the task starts and the arguments before kerio-dcc's own: the executable itself, or Node with this package's script. */
export function selfCommand(): { command: string; args: string[] } {
  if (IS_EXECUTABLE) return { command: process.execPath, args: [] };
  return { command: process.execPath, args: [path.resolve(process.argv[1] ?? 'kerio-dcc')] };
}

/** The command line the task runs: the repair, with the copied answers and this run's target flags. */
export function repairArgs(ctx: Planning): string[] {
  const args = ['watch', '--run', '--answers', ctx.target.toHost(ANSWERS_COPY)];
  if (ctx.target.root) args.push('--root', ctx.target.root);
  if (ctx.options.simulate) args.push('--simulate');
  return args;
}

export function taskSpec(ctx: Planning, serviceDisplayName: string | null): TaskSpec {
  const self = selfCommand();
  const { intervalHours, restart, window } = ctx.answers.watch;
  return {
    command: self.command,
    args: [...self.args, ...repairArgs(ctx)],
    intervalHours,
    serviceDisplayName,
    dailyAt: restart === 'window' ? window.slice(0, 5) : null,
    description: `kerio-dcc: checks that DCC is on in Kerio Connect's SpamAssassin and puts it back after a Kerio upgrade, with the answers in ${ANSWERS_COPY}. Remove with: kerio-dcc watch --remove`,
  };
}

function requireRunner(ctx: Planning) {
  if (!ctx.runner) throw new Error(`internal: ${NO_SYSTEM}`);
  return ctx.runner;
}

/** The watch folder, made when it does not exist yet (inside the state folder, it inherits its admin-only ACL). */
async function missingFolder(ctx: Planning): Promise<Action[]> {
  return (await kindOf(ctx.target.toHost(WATCH_FOLDER))) === 'dir' ? [] : [{ kind: 'mkdir', path: WATCH_FOLDER }];
}

/**
 * Plans registering the task: the answers copied, the task file written, the task
 * registered from it. Each only when it differs, so a second `watch` with the same answers
 * changes nothing. A task someone changed or deleted by hand is registered again.
 */
export async function planWatch(ctx: Planning, answersBytes: Buffer, spec: TaskSpec): Promise<StepPlan> {
  const runner = requireRunner(ctx);
  const xml = taskXml(spec);
  const wanted = taskFileBytes(xml);
  const actions: Action[] = [...(await missingFolder(ctx))];
  const changes: string[] = [];
  const notes: string[] = [];
  const currentAnswers = await readIfExists(ctx.target.toHost(ANSWERS_COPY));
  if (currentAnswers === null || !currentAnswers.equals(answersBytes)) {
    actions.push({ kind: 'writeFile', path: ANSWERS_COPY, content: answersBytes });
    changes.push(`copy the answers to ${ANSWERS_COPY}${currentAnswers === null ? '' : ' (replacing the copy there)'}`);
  }
  const currentFile = await readIfExists(ctx.target.toHost(TASK_FILE));
  const fileDiffers = currentFile === null || !currentFile.equals(wanted);
  if (fileDiffers) actions.push({ kind: 'writeFile', path: TASK_FILE, content: wanted });
  const registered = await queryTask(runner, ctx.target);
  const taskDiffers = registered === null || taskFingerprint(registered) !== taskFingerprint(xml);
  if (fileDiffers || taskDiffers) {
    actions.push({ kind: 'task', request: createTaskRequest(ctx.target, TASK_FILE), taskName: TASK_NAME });
    changes.push(`${registered === null ? 'register' : 'replace'} the scheduled task ${TASK_NAME} (${TASK_FILE})`);
    if (registered !== null && !fileDiffers)
      notes.push(`the registered task ${TASK_NAME} was changed outside kerio-dcc: it is registered again as kerio-dcc watch defines it`);
  }
  const { intervalHours, restart, window } = ctx.answers.watch;
  notes.push(
    `runs as SYSTEM with the highest privileges: ${spec.command} ${spec.args.join(' ')}`,
    `starts ${BOOT_NOTE}, every ${intervalHours} hour(s)${spec.serviceDisplayName ? `, and 2 minutes after the service "${spec.serviceDisplayName}" changes state (System log, Service Control Manager event 7036)` : ''}${spec.dailyAt ? `, and daily at ${spec.dailyAt}` : ''}`,
    `when a repair needs a Kerio restart: ${restart === 'now' ? 'restart at once' : restart === 'never' ? 'never restart (report only)' : `restart only between ${window}`}`,
  );
  if (!/^[A-Za-z]:\\(Program Files( \(x86\))?|Windows)\\/i.test(spec.command) && !ctx.target.isImage) {
    notes.push(`${spec.command} runs as SYSTEM: keep it where only administrators can write (the MSI installs C:\\Program Files\\kerio-dcc)`);
  }
  return step('watch', TITLE, {
    status: actions.length ? 'change' : 'unchanged',
    detail: changes.length ? changes.join('; ') : `${TASK_NAME} is registered as wanted, with the same answers`,
    notes,
    actions,
  });
}

/** Plans taking the watch out: the task deleted, its files removed (they are backed up). */
export async function planWatchRemoval(ctx: Planning): Promise<StepPlan> {
  if (!ctx.runner) return step('watch', TITLE, { status: 'skipped', detail: NO_SYSTEM });
  const actions: Action[] = [];
  const registered = await queryTask(ctx.runner, ctx.target);
  if (registered !== null) actions.push({ kind: 'task', request: deleteTaskRequest(ctx.target), taskName: TASK_NAME });
  const files: WinPath[] = [];
  for (const file of [TASK_FILE, ANSWERS_COPY, LAST_RUN]) {
    if ((await kindOf(ctx.target.toHost(file))) === 'file') files.push(file);
  }
  actions.push(...files.map((p): Action => ({ kind: 'deleteFile', path: p })));
  if (actions.length && (await kindOf(ctx.target.toHost(WATCH_FOLDER))) === 'dir') actions.push({ kind: 'removeEmptyDir', path: WATCH_FOLDER });
  const what = [...(registered !== null ? [`delete the scheduled task ${TASK_NAME}`] : []), ...(files.length ? [`remove ${files.join(', ')}`] : [])];
  return step('watch', TITLE, {
    status: actions.length ? 'change' : 'unchanged',
    detail: what.length ? what.join('; ') : 'not watched: no scheduled task to remove',
    actions,
  });
}

/**
 * A rollback puts the task file back or removes it (ordinary file actions, planned before
 * this); the task follows: registered again from the file put back, or deleted with it.
 */
export async function planTaskRestore(ctx: Planning, earlier: StepPlan[]): Promise<StepPlan | null> {
  const key = normalizeWin(TASK_FILE).toLowerCase();
  const touching = earlier
    .flatMap((s) => s.actions)
    .filter((a) => (a.kind === 'writeFile' || a.kind === 'deleteFile') && normalizeWin(a.path).toLowerCase() === key);
  const last = touching[touching.length - 1];
  if (!last) return null;
  if (!ctx.runner) return step('watch', TITLE, { status: 'skipped', detail: NO_SYSTEM });
  if (last.kind === 'writeFile') {
    return step('watch', TITLE, {
      status: 'change',
      detail: `register ${TASK_NAME} again from ${TASK_FILE} as it was`,
      actions: [{ kind: 'task', request: createTaskRequest(ctx.target, TASK_FILE), taskName: TASK_NAME }],
    });
  }
  const registered = await queryTask(ctx.runner, ctx.target);
  if (registered === null) return step('watch', TITLE, { status: 'unchanged', detail: `${TASK_NAME} is not registered` });
  return step('watch', TITLE, {
    status: 'change',
    detail: `delete the scheduled task ${TASK_NAME}`,
    actions: [{ kind: 'task', request: deleteTaskRequest(ctx.target), taskName: TASK_NAME }],
  });
}

/**
 * The Kerio service's display name: Windows writes it as param1 of the Service Control
 * Manager's event 7036, which the task's service trigger matches. Null when sc cannot say.
 */
export async function serviceDisplayName(ctx: Planning, service: string): Promise<string | null> {
  const result = await requireRunner(ctx).run({ program: systemTool(ctx.target, 'sc.exe'), args: ['qc', service], mutates: false });
  if (result.exitCode !== 0 || result.timedOut) return null;
  // sc's keys are not localized; the value after the colon is data.
  return /^\s*DISPLAY_NAME\s*:(.*)$/m.exec(result.stdout)?.[1]?.trim() || null;
}

/** What the last repair run did, for status ("last run, last result"). */
export interface LastRun {
  time: string;
  /** on, repaired, waiting, failed, broken-answers */
  outcome: string;
  exitCode: number;
  backupId: string | null;
  message: string;
  /** UTC day (YYYY-MM-DD) of the last "all on" information event: written at most once a day. */
  allOnEventDay: string | null;
}

export async function readLastRun(ctx: Planning): Promise<LastRun | null> {
  const bytes = await readIfExists(ctx.target.toHost(LAST_RUN));
  if (bytes === null) return null;
  try {
    const json = JSON.parse(bytes.toString('utf8')) as Partial<LastRun>;
    if (typeof json.time !== 'string' || typeof json.outcome !== 'string') return null;
    return {
      time: json.time,
      outcome: json.outcome,
      exitCode: Number(json.exitCode ?? 0),
      backupId: json.backupId ?? null,
      message: String(json.message ?? ''),
      allOnEventDay: json.allOnEventDay ?? null,
    };
  } catch {
    return null;
  }
}

export async function writeLastRun(ctx: Planning, run: LastRun): Promise<void> {
  const host = ctx.target.toHost(WATCH_FOLDER);
  if ((await kindOf(host)) !== 'dir') return;
  // A run killed while writing it left its temp file: the next one clears it.
  const prefix = `.${basenameWin(LAST_RUN)}.`;
  for (const name of await readdir(host)) {
    if (name.startsWith(prefix) && isLeftoverTemp(name)) await unlink(path.join(host, name)).catch(() => undefined);
  }
  await atomicWrite(ctx.target.toHost(LAST_RUN), Buffer.from(`${JSON.stringify(run, null, 2)}\n`, 'utf8'));
}

/** status: "watched: yes, last run, last result". */
export async function watchCheck(ctx: Planning): Promise<Check> {
  const title = 'watched';
  if (!ctx.runner) return { id: 'watch', title, ok: null, detail: `not checked: ${NO_SYSTEM}` };
  const registered = await queryTask(ctx.runner, ctx.target);
  const copied = (await kindOf(ctx.target.toHost(ANSWERS_COPY))) === 'file';
  if (registered === null) {
    return copied
      ? {
          id: 'watch',
          title,
          ok: false,
          detail: `no: the scheduled task ${TASK_NAME} is gone, though kerio-dcc watch set it up (${ANSWERS_COPY} is there); register it again with kerio-dcc watch --answers FILE`,
        }
      : { id: 'watch', title, ok: null, detail: 'no (kerio-dcc watch --answers FILE keeps DCC on after Kerio upgrades)' };
  }
  const last = await readLastRun(ctx);
  const lastText = last
    ? `last run ${last.time}, last result: ${last.outcome}${last.backupId ? ` (backup ${last.backupId})` : ''}${last.message ? `: ${last.message}` : ''}`
    : 'last run: not yet';
  return { id: 'watch', title, ok: true, detail: `yes (${TASK_NAME}), ${lastText}` };
}
