import { readManifest } from '../store/format.js';
import { dccClientDirs } from '../answers/answers.js';
import { fixCommand } from '../model/commandLine.js';
import { checkManifestPaths } from '../store/manifest.js';
import { findUnfinishedRun } from '../store/unfinished.js';
import { locate } from '../detect/locate.js';
import { PreconditionError } from '../errors.js';
import { restoreFromBackup } from './apply.js';
import type { RunContext } from '../model/context.js';

/**
 * Before a changing command does anything else, an interrupted run is restored from its
 * backup: with --yes at once, on a terminal after asking; otherwise the command stops.
 */
export async function recoverUnfinishedRun(ctx: RunContext): Promise<string | null> {
  const run = await findUnfinishedRun(ctx);
  if (!run) return null;
  if (run.manifest.command === 'secure') {
    // Undoing it would make the folder unsafe again: it is finished instead, by running it again.
    throw new PreconditionError(
      `An earlier kerio-dcc backups --secure (backup ${run.manifest.id}, started ${run.manifest.createdAt}) did not finish: it was interrupted or killed.`,
      `Finish it with: ${fixCommand(ctx, ['backups', '--secure', '--yes'])} Nothing was changed.`,
    );
  }
  const what = `An earlier kerio-dcc ${run.manifest.command} (backup ${run.manifest.id}, started ${run.manifest.createdAt}) did not finish: it was interrupted or killed.`;
  if (ctx.options.dryRun) return `${what} A real run restores it from its backup first.`;
  if (!ctx.options.yes) {
    if (!ctx.ui.prompter || !(await ctx.ui.prompter.confirm(`${what} Restore the server from its backup now?`, true))) {
      throw new PreconditionError(
        what,
        `Restore it with: kerio-dcc rollback ${run.manifest.id} --yes (or add --yes to this command to restore first). Nothing was changed.`,
      );
    }
  }
  // A manifest found on disk is read whole and checked like one named to rollback: it may not be ours.
  const manifest = await readManifest(run.dir).catch((err: unknown) => {
    throw new PreconditionError(
      `${what} Its backup cannot be used to restore it: ${(err as Error).message}`,
      `Nothing was changed. Check the server with kerio-dcc status and put right what it reports, then move ${run.winDir} out of the backups folder so that runs can go on.`,
    );
  });
  await checkManifestPaths(run.dir, manifest, (await locate(ctx, { requireDcc: false })).rulesDir, ctx.target.systemRoot, dccClientDirs(ctx.answers));
  ctx.ui.warn(`${what} Restoring from ${run.winDir} first ...`);
  const problems = await restoreFromBackup(ctx, run.dir, manifest, { restartService: true });
  if (problems.length) {
    throw new PreconditionError(
      `${what} Restoring it was incomplete:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      `Fix the cause, then run: kerio-dcc rollback ${run.manifest.id} --force --yes --restart`,
    );
  }
  return `${what} It was restored from its backup before this run.`;
}
