// Read-only, so that `status` can tell about an interrupted run without loading the code that restores one.
import path from 'node:path';
import type { RunContext } from '../model/context.js';
import { joinWin } from '../target/target.js';
import { Journal } from './journal.js';
import { readManifestHead } from './format.js';
import type { ManifestHead } from './manifest.js';
import { listBackupDirs } from './prune.js';

export interface UnfinishedRun {
  dir: string;
  /** Its manifest's head: `readManifest(dir)` reads the file list a restore needs. */
  manifest: ManifestHead;
  winDir: string;
}

/**
 * A run that was killed leaves its manifest saying 'applying'. Only the newest readable
 * backup can be such a run (every run checks before it starts), so only that one's head is read.
 */
export async function findUnfinishedRun(ctx: RunContext): Promise<UnfinishedRun | null> {
  for (const dir of await listBackupDirs(ctx)) {
    const manifest = await readManifestHead(dir).catch(() => null);
    if (!manifest) continue;
    if (manifest.status !== 'applying') return null;
    // Every step finished, and only marking the manifest complete was lost: the run did finish.
    const finished = await Journal.finishedSteps(dir);
    if (manifest.changes.every((step) => finished.has(step))) return null;
    return { dir, manifest, winDir: joinWin(ctx.answers.backup.dir, path.basename(dir)) };
  }
  return null;
}
