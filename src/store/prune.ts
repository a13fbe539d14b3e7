import { rm } from 'node:fs/promises';
import { assertTrusted, inspectTrust, unsafeFolders } from '../trust/stateFolder.js';
import path from 'node:path';
import type { RunContext } from '../model/context.js';
import { errnoCode } from '../errors.js';
import { faultPoint } from '../fault.js';
import { backupNames, readManifestHead } from './format.js';

/**
 * Backup folders, newest first, only in a backup folder that only administrators can write
 * (exit 3 otherwise). A link or junction is never followed; what a run stopped while backing
 * up left is not a backup.
 */
export async function listBackupDirs(ctx: RunContext): Promise<string[]> {
  await assertTrusted(ctx);
  const base = ctx.target.toHost(ctx.answers.backup.dir);
  return (await backupNames(base))
    .sort(compareIds)
    .reverse()
    .map((n) => path.join(base, n));
}

/** Orders ids by time, then by the -N suffix of runs within the same second. */
export function compareIds(a: string, b: string): number {
  const [ta, na] = a.split('-');
  const [tb, nb] = b.split('-');
  return ta! < tb! ? -1 : ta! > tb! ? 1 : Number(na ?? 1) - Number(nb ?? 1);
}

/** Keeps the newest `backup.keep` backups (0 keeps all); never removes the one just made or an unfinished one. */
export async function pruneBackups(ctx: RunContext, justMade: string): Promise<string[]> {
  const keep = ctx.answers.backup.keep;
  if (keep === 0) return [];
  // A folder whose permissions were just put back to unsafe ones (a rollback of backups --secure),
  // or could not be read again, is not pruned: retention waits for the next run.
  const trust = await inspectTrust(ctx).catch(() => null);
  if (!trust || unsafeFolders(trust).length) return [];
  const removed: string[] = [];
  const dirs = await listBackupDirs(ctx);
  let kept = 0;
  for (const dir of dirs) {
    const id = path.basename(dir);
    if (id === justMade || kept < keep) {
      kept++;
      continue;
    }
    const manifest = await readManifestHead(dir).catch(() => null);
    if (!manifest || manifest.status === 'applying') continue;
    try {
      faultPoint(`prune ${dir}`);
      await rm(dir, { recursive: true, force: true });
    } catch (err) {
      // The run's own work is done and backed up: an old backup that cannot be removed is left, not a failure of the run.
      ctx.ui.warn(`could not remove the old backup ${id} (${errnoCode(err) ?? (err as Error).message}); it is left in place`);
      continue;
    }
    removed.push(id);
  }
  return removed;
}
