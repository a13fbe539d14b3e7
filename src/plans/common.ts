import type { Facts } from '../detect/facts.js';
import type { Location } from '../detect/locate.js';
import type { Planning } from '../model/context.js';
import { readsOf, step, type Plan, type StepPlan } from '../model/plan.js';
import type { Managed } from '../managed/managed.js';
import { PreconditionError } from '../errors.js';

export function locateStep(location: Location): StepPlan {
  return step('locate', 'locate Kerio', {
    status: 'unchanged',
    detail: `rules folder ${location.rulesDir} (install folder ${location.installDir}: ${location.installSource})`,
  });
}

/** Says where the backup will go; `apply` makes it before the first change, and only if there is one. */
export function backupStep(ctx: Planning, location: Location, later: StepPlan[]): StepPlan {
  const changes = later.some((s) => s.status === 'change');
  return step('backup', 'backup', {
    status: changes ? 'change' : 'unchanged',
    detail: changes
      ? `back up ${location.rulesDir} and every file to be replaced, to a new folder in ${ctx.answers.backup.dir}`
      : 'nothing to change, so no backup is needed',
  });
}

/** Plans each managed thing in order, each seeing the steps before it. */
export async function planEach(ctx: Planning, facts: Facts, things: Managed[], verb: 'install' | 'remove'): Promise<StepPlan[]> {
  const steps: StepPlan[] = [];
  for (const thing of things) {
    const plan = verb === 'install' ? thing.install : thing.remove;
    if (!plan) continue;
    const planned = await plan.call(thing, ctx, facts, steps);
    if (planned.refusal) throw new PreconditionError(planned.refusal.message, planned.refusal.hint);
    steps.push(planned);
  }
  return steps;
}

/** A plan that changes Kerio's files: located, backed up first (the whole rules folder), then the steps. */
export function filePlan(command: 'install' | 'uninstall', ctx: Planning, location: Location, changing: StepPlan[]): Plan {
  return {
    command,
    steps: [locateStep(location), backupStep(ctx, location, changing), ...changing],
    readHashes: readsOf(changing),
    backupTrees: [location.rulesDir],
  };
}
