import type { Facts } from '../detect/facts.js';
import type { Planning } from '../model/context.js';
import type { Plan } from '../model/plan.js';
import { PreconditionError } from '../errors.js';
import { firewallRules } from '../managed/firewallRules.js';
import { localCf } from '../managed/localCf.js';
import type { Managed } from '../managed/managed.js';
import { mapCopies } from '../managed/mapCopies.js';
import { profileFolders } from '../managed/profileFolders.js';
import { service } from '../managed/service.js';
import { v310Pre } from '../managed/v310Pre.js';
import { filePlan, planEach } from './common.js';

/** Everything DCC needs, in the order install puts it in place; uninstall takes it out in the same order. */
export const MANAGED: Managed[] = [profileFolders, mapCopies, localCf, v310Pre, firewallRules, service];

/** Computes the install plan: reads only, changes nothing. */
export async function planInstall(ctx: Planning, facts: Facts): Promise<Plan> {
  // Before any other step is planned: a path that cannot be written safely stops the run here.
  const paths = await facts.dccPaths();
  if (!paths.ok) throw new PreconditionError(paths.message, paths.hint);
  return filePlan('install', ctx, facts.location, await planEach(ctx, facts, MANAGED, 'install'));
}
