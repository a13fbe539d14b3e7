import { mkdir, open, readFile, rename, rmdir, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PreconditionError, errnoCode } from '../errors.js';
import type { RunContext } from '../model/context.js';
import { faultPoint } from '../fault.js';
import { joinWin } from '../target/target.js';
import { clearInterruptedBackups } from './format.js';

export const LOCK_NAME = 'kerio-dcc.lock';

interface LockInfo {
  pid: number;
  host: string;
  command: string;
  startedAt: string;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}

async function readLock(file: string): Promise<LockInfo | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as LockInfo;
  } catch {
    return null;
  }
}

/** Removes `dir` and its parents up to `top`, as long as each is empty (a backup was made: nothing to do). */
async function removeEmptyUpTo(dir: string, top: string): Promise<void> {
  for (let d = dir; d.length >= top.length; d = path.dirname(d)) {
    try {
      await rmdir(d);
    } catch {
      return;
    }
    if (d === top) return;
  }
}

/**
 * Removes what runs stopped while backing up left (they changed nothing, so there is nothing
 * to undo). Only the lock's holder may: no other run can be making a backup then.
 */
async function clearInterrupted(ctx: RunContext): Promise<void> {
  try {
    for (const name of await clearInterruptedBackups(ctx.target.toHost(ctx.answers.backup.dir))) {
      ctx.ui.warn(`removed ${joinWin(ctx.answers.backup.dir, name)}: the unfinished backup of a run that was stopped before it changed anything`);
    }
  } catch (err) {
    ctx.ui.warn(
      `could not remove the unfinished backup of a run stopped while backing up (${errnoCode(err) ?? (err as Error).message}); it is left for the next run`,
    );
  }
}

export interface Lock {
  release(): Promise<void>;
}

/**
 * One changing run at a time: a lock file beside the backups. A lock left by a process
 * that no longer runs (on this host) is taken over; a live one stops this run (exit 3).
 */
export async function acquireLock(ctx: RunContext, command: string): Promise<Lock> {
  const dir = ctx.target.toHost(ctx.answers.backup.dir);
  // The state and backup folders are made safe before the first file is written in them.
  const trust = await import('../trust/stateFolder.js');
  const made = await trust.createTrustedFolders(ctx);
  // mkdir reports the outermost folder it had to create, so a run that ends up changing
  // nothing can take away every folder it made.
  const firstCreated = await mkdir(dir, { recursive: true }).catch((err) => {
    throw new PreconditionError(
      `Cannot create ${ctx.answers.backup.dir} (${errnoCode(err) ?? String(err)}).`,
      'Set backup.dir in the answers file to a folder you can write to. Nothing was changed.',
    );
  });
  const file = path.join(dir, LOCK_NAME);
  const mine: LockInfo = { pid: process.pid, host: os.hostname(), command, startedAt: ctx.now().toISOString() };
  const body = JSON.stringify(mine);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      faultPoint(`lock take ${file}`);
      const handle = await open(file, 'wx');
      await handle.writeFile(body);
      await handle.close();
      await clearInterrupted(ctx);
      return {
        release: async () => {
          try {
            faultPoint(`lock release ${file}`);
            await unlink(file);
          } catch {
            // A lock that cannot be removed is left: its pid no longer runs when the next run finds it, so that run takes it over.
          }
          if (firstCreated) await removeEmptyUpTo(dir, firstCreated);
          // backups --secure keeps what it made: making the folders safe is its purpose.
          if (command !== 'backups --secure') await trust.removeUnusedFolders(ctx, made);
        },
      };
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
    }
    const holder = await readLock(file);
    if (holder && holder.host === mine.host && !isAlive(holder.pid)) {
      ctx.ui.warn(`taking over a lock left by kerio-dcc ${holder.command} (pid ${holder.pid}, started ${holder.startedAt}), which is no longer running`);
      // Rename aside rather than delete, so two runs racing for a stale lock cannot both win.
      await rename(file, `${file}.stale-${process.pid}`)
        .then(() => unlink(`${file}.stale-${process.pid}`))
        .catch(() => undefined);
      continue;
    }
    if (holder === null) {
      // A lock being written this very moment: give its owner a moment.
      await new Promise((r) => setTimeout(r, 100));
      if ((await readLock(file)) === null) {
        throw new PreconditionError(
          `${ctx.answers.backup.dir}\\${LOCK_NAME} exists but cannot be read.`,
          'If no other kerio-dcc is running, delete that file and run again. Nothing was changed.',
        );
      }
      continue;
    }
    throw new PreconditionError(
      `Another kerio-dcc run holds the lock: ${holder.command} (pid ${holder.pid} on ${holder.host}, started ${holder.startedAt}).`,
      `Wait for it to finish. If it is not running any more, delete ${ctx.answers.backup.dir}\\${LOCK_NAME}. Nothing was changed.`,
    );
  }
  throw new PreconditionError(`Could not take the lock ${ctx.answers.backup.dir}\\${LOCK_NAME}.`, 'Run again; nothing was changed.');
}
