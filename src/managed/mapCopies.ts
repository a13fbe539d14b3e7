/**
 * DCC's map copied into each profile folder. The map is a binary memory-mapped file: copied
 * byte for byte, never parsed. dccproc rewrites the copy it uses on every run (server
 * response times, back-off), so only a missing or empty copy needs copying: a copy that
 * differs from DCC's own map is normal, not drift.
 */
import { step, type Action } from '../model/plan.js';
import { PreconditionError } from '../errors.js';
import { readIfExists } from '../fs/files.js';
import { joinWin } from '../target/target.js';
import type { Managed } from './managed.js';
import { refuseLink } from './textEdit.js';
import { plannedMap } from './dccClient.js';

const TITLE = 'DCC map file';
const MAP = { id: 'map', title: 'DCC map in the profile folder' };

/** Why a profile folder's copy of the map needs copying, or null when it is in place. */
function copyProblem(copy: Buffer | null): string | null {
  return copy === null ? 'is missing' : copy.length === 0 ? 'is empty' : null;
}

export const mapCopies: Managed = {
  checks: [MAP],

  async install(ctx, facts, earlier) {
    const { location } = facts;
    const decision = await facts.profile();
    // The bundled client's map is made by an earlier step of this plan: copy what it will write.
    const source = plannedMap(earlier, location.map) ?? (await readIfExists(ctx.target.toHost(location.map)));
    if (source === null || source.length === 0) {
      throw new PreconditionError(
        `DCC's map file ${location.map} ${source === null ? 'does not exist' : 'is empty'}.`,
        'Set dcc.map (or dcc.home) in the answers file to a working DCC installation.',
      );
    }
    const actions: Action[] = [];
    const problems: string[] = [];
    for (const dir of decision.dirs) {
      const dest = joinWin(dir, 'map');
      await refuseLink(ctx, dest);
      const problem = copyProblem(await readIfExists(ctx.target.toHost(dest)));
      if (problem === null) continue;
      actions.push({ kind: 'writeFile', path: dest, content: source });
      problems.push(`${dest} ${problem}`);
    }
    const targets = decision.dirs.map((d) => joinWin(d, 'map'));
    return step('map', TITLE, {
      status: actions.length ? 'change' : 'unchanged',
      detail: actions.length
        ? `copy ${location.map} (${source.length} bytes) to ${actions.map((a) => (a.kind === 'writeFile' ? a.path : '')).join(', ')}`
        : `${targets.join(', ')} in place (dccproc keeps its own state in each copy, so they are not compared with ${location.map})`,
      actions,
      serviceReads: true,
      checks: [problems.length ? { ...MAP, ok: false, detail: problems.join('; ') } : { ...MAP, ok: true, detail: `present in ${decision.dirs.join(', ')}` }],
    });
  },

  /** Copies identical to DCC's map are ours to remove; a different file there is left alone. */
  async remove(ctx, facts) {
    const { location } = facts;
    const decision = await facts.profile();
    const source = await readIfExists(ctx.target.toHost(location.map));
    const actions: Action[] = [];
    const notes: string[] = [];
    for (const dir of decision.dirs) {
      const copy = joinWin(dir, 'map');
      const bytes = await readIfExists(ctx.target.toHost(copy));
      if (bytes === null) continue;
      if (source !== null && bytes.equals(source)) actions.push({ kind: 'deleteFile', path: copy });
      else notes.push(`${copy} is left in place: it is not a copy of ${location.map}`);
    }
    return step('map', TITLE, {
      status: actions.length ? 'change' : 'unchanged',
      detail: actions.length ? `remove ${actions.map((a) => ('path' in a ? a.path : '')).join(', ')}` : 'no map copy to remove',
      notes,
      actions,
      serviceReads: true,
    });
  },
};
