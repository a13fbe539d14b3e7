/** The two Windows Firewall rules for DCC's UDP 6277, named with firewall.name_prefix. */
import type { Planning } from '../model/context.js';
import { step, type Action, type StepPlan } from '../model/plan.js';
import { deleteRuleRequest } from '../windows/firewall.js';
import type { Managed } from './managed.js';

export const NO_SYSTEM = 'working on an image (--root): not changed; add --simulate to run it against the simulated system';
const NOT_CHECKED = 'not checked on an image (--root); add --simulate to check the simulated system';
const TITLE = 'firewall (UDP 6277)';
const FIREWALL = { id: 'firewall', title: 'firewall rules for UDP 6277' };

/** The firewall is left alone when the answers say so, or when there is no system to ask. */
function notManaged(ctx: Planning): StepPlan | null {
  if (!ctx.answers.firewall.enabled) {
    const detail = 'firewall.enabled = false in the answers file';
    return step('firewall', TITLE, { status: 'skipped', detail, checks: [{ ...FIREWALL, ok: null, detail }] });
  }
  if (!ctx.runner) return step('firewall', TITLE, { status: 'skipped', detail: NO_SYSTEM, checks: [{ ...FIREWALL, ok: null, detail: NOT_CHECKED }] });
  return null;
}

export const firewallRules: Managed = {
  checks: [FIREWALL],

  async install(ctx, facts) {
    const skipped = notManaged(ctx);
    if (skipped) return skipped;
    const rules = (await facts.firewall())!;
    const actions: Action[] = rules.flatMap((r) =>
      r.requests.map((request) => ({ kind: 'firewall' as const, request, ruleName: r.wanted.name, before: r.found, after: [r.wanted] })),
    );
    const changing = rules.filter((r) => r.verdict !== 'unchanged');
    const present = `rules ${rules.map((r) => `"${r.wanted.name}"`).join(' and ')} present and correct`;
    return step('firewall', TITLE, {
      status: changing.length ? 'change' : 'unchanged',
      detail: changing.length ? changing.map((r) => `${r.verdict} "${r.wanted.name}" (${r.reason})`).join('; ') : present,
      notes: rules.flatMap((r) => r.notes),
      actions,
      checks: [
        changing.length
          ? { ...FIREWALL, ok: false, detail: changing.map((r) => `"${r.wanted.name}": ${r.reason}`).join('; ') }
          : { ...FIREWALL, ok: true, detail: present.replace(/^rules /, '') },
      ],
    });
  },

  async remove(ctx, facts) {
    const skipped = notManaged(ctx);
    if (skipped) return skipped;
    const actions: Action[] = [];
    for (const rule of (await facts.firewall())!) {
      if (rule.found.length)
        actions.push({ kind: 'firewall', request: deleteRuleRequest(ctx.target, rule.wanted.name), ruleName: rule.wanted.name, before: rule.found, after: [] });
    }
    return step('firewall', TITLE, {
      status: actions.length ? 'change' : 'unchanged',
      detail: actions.length ? `delete ${actions.map((a) => (a.kind === 'firewall' ? `"${a.ruleName}"` : '')).join(' and ')}` : 'no kerio-dcc rule to delete',
      actions,
    });
  },
};
