import type { Location } from '../detect/locate.js';
import type { RunContext } from '../engine/context.js';
import { step, type StepPlan } from '../engine/plan.js';

export function locateStep(location: Location): StepPlan {
  return step('locate', 'locate Kerio', {
    status: 'unchanged',
    detail: `rules folder ${location.rulesDir} (install folder ${location.installDir}: ${location.installSource})`,
  });
}

/** Says where the backup will go; `apply` makes it before the first change, and only if there is one. */
export function backupStep(ctx: RunContext, location: Location, later: StepPlan[]): StepPlan {
  const changes = later.some((s) => s.status === 'change');
  return step('backup', 'backup', {
    status: changes ? 'change' : 'unchanged',
    detail: changes
      ? `back up ${location.rulesDir} and every file to be replaced, to a new folder in ${ctx.answers.backup.dir}`
      : 'nothing to change, so no backup is needed',
  });
}
