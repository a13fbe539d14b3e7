import path from 'node:path';
import { checkManifestPaths, readManifest, type Manifest } from '../backup/manifest.js';
import { locate } from '../detect/locate.js';
import { listBackupDirs } from '../backup/prune.js';
import { Journal } from '../backup/journal.js';
import { PreconditionError } from '../errors.js';
import { restoreFromBackup } from './apply.js';
import type { RunContext } from './context.js';
import { joinWin } from '../target/target.js';

export interface UnfinishedRun {
  dir: string;
  manifest: Manifest;
  winDir: string;
}

/**
 * A run that was killed leaves its manifest saying 'applying'. Only the newest readable
 * backup can be such a run (every run checks before it starts), so only that one is read.
 */
export async function findUnfinishedRun(ctx: RunContext): Promise<UnfinishedRun | null> {
  for (const dir of await listBackupDirs(ctx)) {
    const manifest = await readManifest(dir).catch(() => null);
    if (!manifest) continue;
    if (manifest.status !== 'applying') return null;
    // Every step finished, and only marking the manifest complete was lost: the run did finish.
    const finished = await Journal.finishedSteps(dir);
    if (manifest.changes.every((step) => finished.has(step))) return null;
    return { dir, manifest, winDir: joinWin(ctx.answers.backup.dir, path.basename(dir)) };
  }
  return null;
}

/**
 * Before a changing command does anything else, an interrupted run is restored from its
 * backup: with --yes at once, on a terminal after asking; otherwise the command stops.
 */
export async function recoverUnfinishedRun(ctx: RunContext): Promise<string | null> {
  const run = await findUnfinishedRun(ctx);
  if (!run) return null;
  const what = `An earlier kerio-dcc ${run.manifest.command} (backup ${run.manifest.id}, started ${run.manifest.createdAt}) did not finish: it was interrupted or killed.`;
  if (ctx.options.dryRun) return `${what} A real run restores it from its backup first.`;
  if (!ctx.options.yes) {
    if (!ctx.prompter || !(await ctx.prompter.confirm(`${what} Restore the server from its backup now?`, true))) {
      throw new PreconditionError(what, `Restore it with: kerio-dcc rollback ${run.manifest.id} --yes (or add --yes to this command to restore first). Nothing was changed.`);
    }
  }
  // A manifest found on disk is checked like one named to rollback: it may not be ours.
  checkManifestPaths(run.dir, run.manifest, (await locate(ctx, { requireDcc: false })).rulesDir, ctx.target.systemRoot);
  ctx.log.warn(`${what} Restoring from ${run.winDir} first ...`);
  const problems = await restoreFromBackup(ctx, run.dir, run.manifest, { restartService: true });
  if (problems.length) {
    throw new PreconditionError(
      `${what} Restoring it was incomplete:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      `Fix the cause, then run: kerio-dcc rollback ${run.manifest.id} --force --yes --restart`,
    );
  }
  return `${what} It was restored from its backup before this run.`;
}
