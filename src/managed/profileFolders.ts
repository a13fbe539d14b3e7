import type { ProfileDecision } from '../detect/profileDirs.js';
import type { RunContext } from '../engine/context.js';
import { step, type Action, type StepPlan } from '../engine/plan.js';
import { kindOf } from '../fs/files.js';
import { PreconditionError } from '../errors.js';
import { dirnameWin, type WinPath } from '../target/target.js';

/** The folders to create so that `path` exists, outermost first. */
export async function missingFolders(ctx: RunContext, path: WinPath): Promise<WinPath[]> {
  const missing: WinPath[] = [];
  for (let p = path; dirnameWin(p) !== p; p = dirnameWin(p)) {
    const kind = await kindOf(ctx.target.toHost(p));
    if (kind === 'dir') break;
    if (kind !== null) throw new PreconditionError(`${p} exists but is not a folder.`, 'Move it away, or set dcc.profile_dirs in the answers file.');
    missing.unshift(p);
  }
  return missing;
}

export async function planProfileFolders(ctx: RunContext, decision: ProfileDecision): Promise<StepPlan> {
  const actions: Action[] = [];
  for (const dir of decision.dirs) {
    for (const folder of await missingFolders(ctx, dir)) actions.push({ kind: 'mkdir', path: folder });
  }
  const created = decision.dirs.filter((d) => actions.some((a) => a.kind === 'mkdir' && a.path === d));
  return step('profile', 'profile folder', {
    status: actions.length ? 'change' : 'unchanged',
    detail: actions.length
      ? `create ${created.join(', ')} (${decision.rule})`
      : `${decision.dirs.join(', ')} exist${decision.dirs.length === 1 ? 's' : ''} (${decision.rule})`,
    notes: decision.notes,
    actions,
  });
}
