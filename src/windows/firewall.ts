import type { CommandRequest, CommandRunner } from '../system/runner.js';
import type { Target } from '../target/target.js';
import { addRuleRequest, deleteRuleRequest, netshShowRules } from './firewallNetsh.js';
import { firewallRulesRequest, parseFirewallRules } from './firewallPowershell.js';
import { dccFirewallRules, describeDifferences, type FirewallRule } from './firewallRule.js';

export * from './firewallRule.js';
export * from './firewallNetsh.js';

/**
 * The rules with each of these names (one list per name, in order), read through PowerShell's
 * language-independent enumerations (firewallPowershell.ts) in one call; when that fails
 * (no NetSecurity module, PowerShell refused), from netsh's localized words, name by name.
 */
export async function readRules(runner: CommandRunner, target: Target, names: readonly string[]): Promise<FirewallRule[][]> {
  const viaPowershell = parseFirewallRules(await runner.run(firewallRulesRequest(target, names)));
  if (viaPowershell !== null) return names.map((name) => viaPowershell.filter((rule) => rule.name.toLowerCase() === name.toLowerCase()));
  const lists: FirewallRule[][] = [];
  for (const name of names) lists.push(await netshShowRules(runner, target, name));
  return lists;
}

/** The rules named `name`: none, one, or duplicates. */
export async function showRules(runner: CommandRunner, target: Target, name: string): Promise<FirewallRule[]> {
  return (await readRules(runner, target, [name]))[0]!;
}

export interface FirewallRulePlan {
  wanted: FirewallRule;
  found: FirewallRule[];
  verdict: 'unchanged' | 'add' | 'replace';
  reason: string;
  /** The changing commands that carry out the verdict, in order; empty when unchanged. */
  requests: CommandRequest[];
  /** Things the administrator should know, e.g. localized words that could not be read. */
  notes: string[];
}

/**
 * Reads the firewall and decides, per wanted rule, what to do. Only reading runs here;
 * the returned requests are applied later (and never in a dry run).
 */
export async function planFirewallRules(runner: CommandRunner, target: Target, prefix: string): Promise<FirewallRulePlan[]> {
  const wanted = dccFirewallRules(prefix);
  const found = await readRules(
    runner,
    target,
    wanted.map((rule) => rule.name),
  );
  return wanted.map((rule, i) => planOneRule(target, rule, found[i]!));
}

function planOneRule(target: Target, wanted: FirewallRule, found: FirewallRule[]): FirewallRulePlan {
  const notes = found.flatMap((rule) =>
    (rule.unreadable ?? []).map((what) => `firewall rule "${rule.name}": could not read ${what} (localized netsh output); treated as "cannot tell"`),
  );
  const replace = (reason: string): FirewallRulePlan => ({
    wanted,
    found,
    verdict: 'replace',
    reason,
    requests: [deleteRuleRequest(target, wanted.name), addRuleRequest(target, wanted)],
    notes,
  });
  if (found.length === 0) {
    const requests = [addRuleRequest(target, wanted)];
    return { wanted, found, verdict: 'add', reason: `no rule named "${wanted.name}" exists`, requests, notes };
  }
  if (found.length > 1) {
    return replace(`${found.length} rules are named "${wanted.name}" (Windows allows duplicates); they are replaced by one`);
  }
  const existing = found[0]!;
  const diffs = describeDifferences(existing, wanted);
  if (diffs.length > 0) return replace(`the existing rule differs: ${diffs.join(', ')}`);
  const unread = existing.unreadable ?? [];
  const reason =
    unread.length === 0
      ? 'the rule exists as wanted'
      : `the rule exists; could not read ${unread.join(', ')} (localized netsh output), every readable field is as wanted`;
  return { wanted, found, verdict: 'unchanged', reason, requests: [], notes };
}
