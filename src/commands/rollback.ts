import path from 'node:path';
import { dccClientDirs } from '../answers/answers.js';
import { readManifest } from '../store/format.js';
import { checkManifestPaths, type Manifest } from '../store/manifest.js';
import { listBackupDirs } from '../store/prune.js';
import { planRestore } from '../plans/rollback.js';
import type { Report } from '../model/report.js';
import { locate } from '../detect/locate.js';
import type { RunContext } from '../model/context.js';
import { PreconditionError } from '../errors.js';
import { basenameWin } from '../target/target.js';
import { planThenApply } from './changeFlow.js';

/**
 * Picks the backup to undo: the one named, else the newest made by install or uninstall
 * (a rollback's own backup is only undone by naming it, so `rollback` twice is harmless).
 */
async function chooseBackup(ctx: RunContext, id: string | undefined): Promise<{ dir: string; manifest: Manifest }> {
  const dirs = await listBackupDirs(ctx);
  if (id !== undefined) {
    const dir = dirs.find((d) => path.basename(d) === id);
    if (!dir) throw new PreconditionError(`There is no backup "${id}" in ${ctx.answers.backup.dir}.`, '`kerio-dcc backups` lists the backups there.');
    return { dir, manifest: await readManifest(dir) };
  }
  // A run stopped while backing up changed nothing: its unfinished backup is not listed.
  for (const dir of dirs) {
    // A damaged newer backup is never skipped silently: undoing an older run past it could undo the wrong thing.
    const manifest = await readManifest(dir);
    // Only a run that changed Kerio is undone by default; rollbacks and backups --secure are undone by naming them.
    if (manifest.command !== 'rollback' && manifest.command !== 'secure') return { dir, manifest };
  }
  throw new PreconditionError(
    `There is no backup to roll back in ${ctx.answers.backup.dir}.`,
    'Backups are made by install and uninstall; check backup.dir in the answers file.',
  );
}

export async function runRollback(ctx: RunContext, report: Report, id: string | undefined): Promise<void> {
  const location = await locate(ctx, { requireDcc: false });
  const { dir, manifest } = await chooseBackup(ctx, id);
  await checkManifestPaths(dir, manifest, location.rulesDir, ctx.target.systemRoot, dccClientDirs(ctx.answers));
  report.data['rolledBack'] = { id: manifest.id, command: manifest.command, createdAt: manifest.createdAt };
  const { plan, conflicts } = await planRestore(ctx, dir, manifest, location.rulesDir, { force: ctx.options.force });
  if (conflicts.length && !ctx.options.force) {
    throw new PreconditionError(
      `Rolling back ${manifest.id} would overwrite changes made since that run:\n${conflicts.map((c) => `  - ${c}`).join('\n')}`,
      `Nothing was changed. Keep those changes, or run again with --force to restore anyway (their current versions are backed up first).`,
    );
  }
  report.warnings.push(...conflicts);
  const outcome = await planThenApply(ctx, report, plan, location, `Restore the server to how it was before ${manifest.command} ${manifest.id}?`);
  if (outcome === 'applied')
    report.summary = `Rolled back ${manifest.command} ${manifest.id}. This rollback can itself be undone: kerio-dcc rollback ${basenameWin(report.backup ?? '')}`;
}
