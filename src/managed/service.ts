/** The Kerio service: restarted when something it reads changed, so SpamAssassin reads the change. */
import type { Planning } from '../model/context.js';
import { step, type StepPlan } from '../model/plan.js';
import type { Managed } from './managed.js';
import { NO_SYSTEM } from './firewallRules.js';

/** Restart only when something the service reads changed, or when asked to (--restart). */
export function planService(ctx: Planning, earlier: StepPlan[]): StepPlan {
  const name = ctx.answers.kerio.service;
  const title = `service ${name}`;
  if (!ctx.runner) return step('service', title, { status: 'skipped', detail: NO_SYSTEM });
  const reasons = earlier.filter((s) => s.status === 'change' && s.serviceReads).map((s) => s.title);
  if (ctx.options.restart) reasons.push('--restart');
  if (reasons.length === 0) return step('service', title, { status: 'unchanged', detail: 'nothing the service reads changed: no restart' });
  if (!ctx.answers.service.restart && !ctx.options.restart) {
    return step('service', title, {
      status: 'skipped',
      detail: `service.restart = false: restart ${name} yourself so that SpamAssassin reads the changes`,
      notes: [`restart ${name} yourself so that SpamAssassin reads the changes`],
    });
  }
  return step('service', title, {
    status: 'change',
    detail: `restart ${name} (changed: ${reasons.join(', ')})`,
    actions: [{ kind: 'restartService', service: name, timeoutSeconds: ctx.answers.service.timeoutSeconds }],
  });
}

/** Whether it runs is a status check of its own (status/checks.ts): install restarts it only for a change. */
export const service: Managed = {
  checks: [],
  install: async (ctx, _facts, earlier) => planService(ctx, earlier),
  remove: async (ctx, _facts, earlier) => planService(ctx, earlier),
};
