/**
 * What a run found on the server, detected once and handed to the planners: where Kerio and
 * DCC are, which profile folders SpamAssassin reads, how local.cf must name DCC's paths, and
 * which firewall rules exist. Each fact is read the first time a planner asks for it and
 * never again in the same run (an interactive install used to run `sc qc` three times).
 */
import type { Planning } from '../model/context.js';
import { planFirewallRules, type FirewallRulePlan } from '../windows/firewall.js';
import { decideDccPaths, type DccPathsDecision } from './dccPaths.js';
import { locate, requireDccPresent, type Location } from './locate.js';
import { decideProfileDirs, type ProfileDecision } from './profileDirs.js';

function once<T>(read: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | null = null;
  return () => (value ??= read());
}

export class Facts {
  readonly profile: () => Promise<ProfileDecision>;
  readonly dccPaths: () => Promise<DccPathsDecision>;
  /** The wanted rules with what was found; null when there is no system to ask or the firewall is not managed. */
  readonly firewall: () => Promise<FirewallRulePlan[] | null>;

  constructor(
    ctx: Planning,
    readonly location: Location,
  ) {
    this.profile = once(() => decideProfileDirs(ctx, location));
    this.dccPaths = once(() => decideDccPaths(ctx, location));
    this.firewall = once(async () =>
      ctx.runner && ctx.answers.firewall.enabled ? planFirewallRules(ctx.runner, ctx.target, ctx.answers.firewall.namePrefix) : null,
    );
  }
}

/**
 * Detects the facts of a run. `requireDcc` refuses, before anything is planned, when DCC's
 * program or map is missing (install); `location` is one the caller already found (the
 * interactive installer finds it while asking).
 */
export async function detectFacts(ctx: Planning, options: { requireDcc: boolean; location?: Location }): Promise<Facts> {
  const location = options.location ?? (await locate(ctx, { requireDcc: false }));
  if (options.requireDcc) await requireDccPresent(ctx, location);
  return new Facts(ctx, location);
}
