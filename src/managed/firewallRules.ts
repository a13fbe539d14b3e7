import type { RunContext } from '../engine/context.js';
import { step, type Action, type StepPlan } from '../engine/plan.js';
import { planFirewallRules } from '../windows/firewall.js';

export const NO_SYSTEM = 'working on an image (--root): not changed; add --simulate to run it against the simulated system';

export async function planFirewall(ctx: RunContext): Promise<StepPlan> {
  const title = 'firewall (UDP 6277)';
  if (!ctx.answers.firewall.enabled) return step('firewall', title, { status: 'skipped', detail: 'firewall.enabled = false in the answers file' });
  if (!ctx.runner) return step('firewall', title, { status: 'skipped', detail: NO_SYSTEM });
  const rules = await planFirewallRules(ctx.runner, ctx.target, ctx.answers.firewall.namePrefix);
  const actions: Action[] = rules.flatMap((r) =>
    r.requests.map((request) => ({ kind: 'firewall' as const, request, ruleName: r.wanted.name, before: r.found, after: [r.wanted] })),
  );
  const changing = rules.filter((r) => r.verdict !== 'unchanged');
  return step('firewall', title, {
    status: changing.length ? 'change' : 'unchanged',
    detail: changing.length
      ? changing.map((r) => `${r.verdict} "${r.wanted.name}" (${r.reason})`).join('; ')
      : `rules ${rules.map((r) => `"${r.wanted.name}"`).join(' and ')} present and correct`,
    notes: rules.flatMap((r) => r.notes),
    actions,
  });
}
