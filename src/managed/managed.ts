import type { Facts } from '../detect/facts.js';
import type { Planning } from '../model/context.js';
import type { StepPlan } from '../model/plan.js';

/**
 * One thing kerio-dcc manages on the server (a folder, a file, a firewall rule, the
 * service), and the one place that knows what "on" means for it. Planning only reads; the
 * plans in plans/ put the steps in order, `apply` carries them out, and `status` runs the
 * install planning read-only and reports its checks.
 */
export interface Managed {
  /** What `status` reports of this thing, first the one that fails when its planning is refused. */
  checks: { id: string; title: string }[];
  /** What install does for it. `earlier`: the steps planned before it (the service restarts for them). */
  install(ctx: Planning, facts: Facts, earlier: StepPlan[]): Promise<StepPlan>;
  /** What uninstall does for it, without needing a backup; absent when uninstall leaves it alone. */
  remove?(ctx: Planning, facts: Facts, earlier: StepPlan[]): Promise<StepPlan>;
}
