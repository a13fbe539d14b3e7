import { decideDccPaths } from '../detect/dccPaths.js';
import { locate, type Location } from '../detect/locate.js';
import { PreconditionError } from '../errors.js';
import { decideProfileDirs } from '../detect/profileDirs.js';
import { planFirewall } from '../steps/firewall.js';
import { planLocalCf } from '../steps/localCf.js';
import { planMapCopies } from '../steps/map.js';
import { planProfileFolders } from '../steps/profile.js';
import { planService } from '../steps/service.js';
import type { TextEdit } from '../steps/textEdit.js';
import { planV310Pre } from '../steps/v310Pre.js';
import type { RunContext } from './context.js';
import { backupStep, locateStep } from './commonSteps.js';
import type { DccLicenseDecision, Plan, StepPlan } from './plan.js';
import { planClientMap, planClientPrograms, readClientBundle } from '../managed/dccClient.js';

/** client = bundled: the programs and home, then the map (made by cdcc), whose bytes the profile copies get. */
async function planBundledClient(ctx: RunContext, location: Location): Promise<{ steps: StepPlan[]; map: Buffer | null }> {
  const bundle = await readClientBundle();
  const programs = await planClientPrograms(ctx, location, bundle);
  const map = await planClientMap(ctx, location, bundle);
  return { steps: [programs, map.step], map: map.map };
}

export function readHashesOf(edits: TextEdit[]): Plan['readHashes'] {
  return new Map(edits.map((e) => [e.path, e.readHash]));
}

/** Computes the install plan: reads only, changes nothing. */
export async function planInstall(ctx: RunContext, dccLicense?: DccLicenseDecision): Promise<{ plan: Plan; location: Location }> {
  const bundled = ctx.answers.dcc.client === 'bundled';
  const location = await locate(ctx, { requireDcc: !bundled });
  // Before any other step is planned: a path that cannot be written safely stops the run here.
  const paths = await decideDccPaths(ctx, location);
  if (!paths.ok) throw new PreconditionError(paths.message, paths.hint);
  const client = bundled ? await planBundledClient(ctx, location) : null;
  const decision = await decideProfileDirs(ctx, location);
  const profile = await planProfileFolders(ctx, decision);
  const map = await planMapCopies(ctx, location, decision, client?.map);
  const localCf = await planLocalCf(ctx, location, paths);
  const v310 = await planV310Pre(ctx, location);
  const firewall = await planFirewall(ctx);
  const fileSteps: StepPlan[] = [...(client?.steps ?? []), profile, map, localCf.step, v310.step, firewall];
  const service = planService(ctx, fileSteps);
  const changing = [...fileSteps, service];
  return {
    location,
    plan: {
      command: 'install',
      steps: [locateStep(location), backupStep(ctx, location, changing), ...changing],
      readHashes: readHashesOf([...localCf.edits, ...v310.edits]),
      backupTrees: [location.rulesDir],
      ...(bundled && dccLicense ? { dccLicense } : {}),
    },
  };
}
