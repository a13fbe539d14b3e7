import { decideDccPaths } from '../detect/dccPaths.js';
import { locate, type Location } from '../detect/locate.js';
import { PreconditionError } from '../errors.js';
import { decideProfileDirs } from '../detect/profileDirs.js';
import { planFirewall } from '../managed/firewallRules.js';
import { planLocalCf } from '../managed/localCf.js';
import { planMapCopies } from '../managed/mapCopies.js';
import { planProfileFolders } from '../managed/profileFolders.js';
import { planService } from '../managed/service.js';
import type { TextEdit } from '../managed/textEdit.js';
import { planV310Pre } from '../managed/v310Pre.js';
import type { RunContext } from '../engine/context.js';
import { backupStep, locateStep } from './common.js';
import type { Plan, StepPlan } from '../engine/plan.js';

export function readHashesOf(edits: TextEdit[]): Plan['readHashes'] {
  return new Map(edits.map((e) => [e.path, e.readHash]));
}

/** Computes the install plan: reads only, changes nothing. */
export async function planInstall(ctx: RunContext): Promise<{ plan: Plan; location: Location }> {
  const location = await locate(ctx, { requireDcc: true });
  // Before any other step is planned: a path that cannot be written safely stops the run here.
  const paths = await decideDccPaths(ctx, location);
  if (!paths.ok) throw new PreconditionError(paths.message, paths.hint);
  const decision = await decideProfileDirs(ctx, location);
  const profile = await planProfileFolders(ctx, decision);
  const map = await planMapCopies(ctx, location, decision);
  const localCf = await planLocalCf(ctx, location, paths);
  const v310 = await planV310Pre(ctx, location);
  const firewall = await planFirewall(ctx);
  const fileSteps: StepPlan[] = [profile, map, localCf.step, v310.step, firewall];
  const service = planService(ctx, fileSteps);
  const changing = [...fileSteps, service];
  return {
    location,
    plan: {
      command: 'install',
      steps: [locateStep(location), backupStep(ctx, location, changing), ...changing],
      readHashes: readHashesOf([...localCf.edits, ...v310.edits]),
      backupTrees: [location.rulesDir],
    },
  };
}
