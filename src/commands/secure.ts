import type { Report } from '../model/report.js';
import { locate } from '../detect/locate.js';
import type { RunContext } from '../model/context.js';
import type { Plan } from '../model/plan.js';
import { PreconditionError } from '../errors.js';
import { contentsOf, planSecure } from '../managed/stateFolderAcl.js';
import { findUnfinishedRun } from '../store/unfinished.js';
import { forgetVerdict, inspectTrust, unsafeFolders, untrustedError } from '../trust/stateFolder.js';
import { basenameWin } from '../target/target.js';
import { planThenApply } from './changeFlow.js';

/**
 * `backups --secure`: an administrator who has looked at the contents makes the state and
 * backup folders safe again (owner Administrators, only SYSTEM and Administrators may write,
 * everything inside taken over). Planned, shown, backed up and reversible like every change.
 */
export async function runSecure(ctx: RunContext, report: Report): Promise<void> {
  const verdict = await inspectTrust(ctx);
  if (!verdict.checked) {
    throw new PreconditionError(
      'backups --secure sets folder permissions, which cannot be read or set on an image (--root) without --simulate.',
      'Run it on the server itself, or add --simulate. Nothing was changed.',
    );
  }
  const location = await locate(ctx, { requireDcc: false });
  const before = new Map<string, string[]>();
  for (const f of verdict.folders) before.set(f.path, await contentsOf(ctx, f.path));
  // A safe folder may still hold an interrupted backups --secure: it is finished by doing it again.
  const interrupted = unsafeFolders(verdict).length === 0 ? await findUnfinishedRun(ctx) : null;
  if (interrupted && interrupted.manifest.command !== 'secure') {
    throw new PreconditionError(
      `An earlier kerio-dcc ${interrupted.manifest.command} (backup ${interrupted.manifest.id}) did not finish.`,
      `The folders are safe already. Restore that run first with: kerio-dcc rollback ${interrupted.manifest.id} --yes. Nothing was changed.`,
    );
  }
  const permissions = await planSecure(ctx, verdict, interrupted !== null);
  if (interrupted) permissions.notes.unshift(`finishes the interrupted backups --secure ${interrupted.manifest.id}`);
  const plan: Plan = { command: 'secure', steps: [permissions], readHashes: new Map(), backupTrees: [] };
  const outcome = await planThenApply(
    ctx,
    report,
    plan,
    location,
    'Make Administrators the owner of these folders and of everything in them, and let only SYSTEM and Administrators write there?',
  );
  if (outcome !== 'applied') return;
  // Checked again, as the next run will: and nothing may have slipped in while it ran.
  forgetVerdict(ctx);
  const after = await inspectTrust(ctx).catch((err: unknown) => {
    report.warnings.push(`the folders' permissions could not be read again to confirm them (${(err as Error).message}); kerio-dcc status checks them`);
    return null;
  });
  if (!after) return;
  const unsafe = unsafeFolders(after);
  if (unsafe.length) throw await untrustedError(ctx, unsafe);
  const ownBackup = basenameWin(report.backup ?? '');
  for (const f of after.folders) {
    const appeared = (await contentsOf(ctx, f.path)).filter(
      (n) => !before.get(f.path)?.includes(n) && n !== ownBackup && !n.startsWith('kerio-dcc.lock') && n !== 'simulated-system.json',
    );
    if (appeared.length)
      report.warnings.push(
        `${f.path} gained ${appeared.join(', ')} while it was being secured: look at it before trusting it (it now belongs to Administrators)`,
      );
  }
  report.summary = `Only Administrators and SYSTEM can now write ${permissions.actions.map((a) => ('path' in a ? a.path : '')).join(' and ')}; the backups in it are trusted again. This can be undone: kerio-dcc rollback ${ownBackup}`;
}
