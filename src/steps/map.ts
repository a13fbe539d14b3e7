import type { Location } from '../detect/locate.js';
import type { ProfileDecision } from '../detect/profileDirs.js';
import type { RunContext } from '../engine/context.js';
import { step, type Action, type StepPlan } from '../engine/plan.js';
import { readIfExists } from '../fs/files.js';
import { PreconditionError } from '../errors.js';
import { joinWin } from '../target/target.js';
import { refuseLink } from './textEdit.js';
import { mapCopyProblem } from '../detect/mapCopy.js';

/** DCC's map is a binary memory-mapped file: copied byte for byte, never parsed. */
export async function planMapCopies(ctx: RunContext, location: Location, decision: ProfileDecision, planned?: Buffer | null): Promise<StepPlan> {
  // planned: the map an earlier step of this plan makes (the bundled client's), not on disk yet.
  const source = planned ?? (await readIfExists(ctx.target.toHost(location.map)));
  if (source === null || source.length === 0) {
    throw new PreconditionError(`DCC's map file ${location.map} ${source === null ? 'does not exist' : 'is empty'}.`, 'Set dcc.map (or dcc.home) in the answers file to a working DCC installation.');
  }
  const actions: Action[] = [];
  for (const dir of decision.dirs) {
    const dest = joinWin(dir, 'map');
    await refuseLink(ctx, dest);
    const current = await readIfExists(ctx.target.toHost(dest));
    if (mapCopyProblem(current) !== null) actions.push({ kind: 'writeFile', path: dest, content: source });
  }
  const targets = decision.dirs.map((d) => joinWin(d, 'map'));
  return step('map', 'DCC map file', {
    status: actions.length ? 'change' : 'unchanged',
    detail: actions.length
      ? `copy ${location.map} (${source.length} bytes) to ${actions.map((a) => (a.kind === 'writeFile' ? a.path : '')).join(', ')}`
      : `${targets.join(', ')} in place (dccproc keeps its own state in each copy, so they are not compared with ${location.map})`,
    actions,
    serviceReads: true,
  });
}
