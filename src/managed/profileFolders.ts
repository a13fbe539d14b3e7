/** The `.spamassassin` profile folder(s) whose map the Kerio service's SpamAssassin reads. */
import type { Planning } from '../model/context.js';
import { step, type Action } from '../model/plan.js';
import { PreconditionError } from '../errors.js';
import { kindOf } from '../fs/files.js';
import { dirnameWin, type WinPath } from '../target/target.js';
import type { Managed } from './managed.js';

/** The folders to create so that `path` exists, outermost first. */
export async function missingFolders(ctx: Pick<Planning, 'target'>, path: WinPath): Promise<WinPath[]> {
  const missing: WinPath[] = [];
  for (let p = path; dirnameWin(p) !== p; p = dirnameWin(p)) {
    const kind = await kindOf(ctx.target.toHost(p));
    if (kind === 'dir') break;
    if (kind !== null) throw new PreconditionError(`${p} exists but is not a folder.`, 'Move it away, or set dcc.profile_dirs in the answers file.');
    missing.unshift(p);
  }
  return missing;
}

export const profileFolders: Managed = {
  // A missing profile folder shows in status as its map missing (managed/mapCopies.ts).
  checks: [],

  async install(ctx, facts) {
    const decision = await facts.profile();
    const actions: Action[] = [];
    for (const dir of decision.dirs) {
      for (const folder of await missingFolders(ctx, dir)) actions.push({ kind: 'mkdir', path: folder });
    }
    const created = decision.dirs.filter((d) => actions.some((a) => a.kind === 'mkdir' && a.path === d));
    const exist = `${decision.dirs.join(', ')} exist${decision.dirs.length === 1 ? 's' : ''} (${decision.rule})`;
    return step('profile', 'profile folder', {
      status: actions.length ? 'change' : 'unchanged',
      detail: actions.length ? `create ${created.join(', ')} (${decision.rule})` : exist,
      notes: decision.notes,
      actions,
    });
  },
};
