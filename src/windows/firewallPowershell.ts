import type { CommandRequest, CommandResult } from '../system/runner.js';
import type { Target } from '../target/target.js';
import type { FirewallRule } from './firewallRule.js';
import { powershellRequest } from './powershell.js';

/**
 * Firewall rules read through PowerShell's NetSecurity cmdlets (`Get-NetFirewallRule`,
 * `Get-NetFirewallPortFilter`; Windows 8 / 2012 and later, so every Windows Node 20 runs
 * on). Their values are enumerations whose names are the same in every display language
 * (`Outbound`, `Allow`, `True`, `Domain, Private`), so a Czech, Russian or Polish server
 * reads as an English one. netsh's localized words (firewall.ts) are only the fallback for
 * when this fails.
 *
 * netsh's `name=` is the rule's DisplayName (netsh gives the rule a GUID as its Name), so
 * rules are found by DisplayName, matched exactly: the parameter takes wildcards, so the
 * name is escaped first. One JSON object per line per rule, names in the order asked.
 */
export const FIREWALL_RULES_KIND = 'firewall-rules';

export function firewallRulesRequest(target: Target, names: readonly string[]): CommandRequest {
  const params: Record<string, string> = {};
  names.forEach((name, i) => (params[`name${i + 1}`] = name));
  const list = names.map((_, i) => `$name${i + 1}`).join(', ');
  return powershellRequest(
    target,
    {
      kind: FIREWALL_RULES_KIND,
      params,
      body: [
        `foreach ($name in @(${list})) {`,
        '  $rules = @(Get-NetFirewallRule -DisplayName ([WildcardPattern]::Escape($name)) -ErrorAction SilentlyContinue | Where-Object { $_.DisplayName -eq $name })',
        '  foreach ($rule in $rules) {',
        '    $ports = $rule | Get-NetFirewallPortFilter',
        '    [pscustomobject]@{ name = $rule.DisplayName; enabled = [string]$rule.Enabled; direction = [string]$rule.Direction; action = [string]$rule.Action;',
        "      profile = [string]$rule.Profile; protocol = [string]$ports.Protocol; localPort = ($ports.LocalPort -join ','); remotePort = ($ports.RemotePort -join ',') } | ConvertTo-Json -Compress",
        '  }',
        '}',
      ].join('\n'),
    },
    { mutates: false },
  );
}

/** One line of the script's output, with the enumeration names PowerShell prints. */
export interface PsFirewallRule {
  name: string;
  enabled: string;
  direction: string;
  action: string;
  profile: string;
  protocol: string;
  localPort: string;
  remotePort: string;
}

const ENABLED: Record<string, boolean> = { true: true, false: false };
const DIRECTION: Record<string, 'in' | 'out'> = { inbound: 'in', outbound: 'out' };
const ACTION: Record<string, 'allow' | 'block'> = { allow: 'allow', block: 'block' };
const PROFILES = ['Domain', 'Private', 'Public'];

/** The rules in the script's output, or null when it is not what the script prints (then netsh is asked). */
export function parseFirewallRules(result: CommandResult): FirewallRule[] | null {
  if (result.exitCode !== 0 || result.timedOut) return null;
  const rules: FirewallRule[] = [];
  for (const line of result.stdout.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    let raw: Partial<PsFirewallRule>;
    try {
      raw = JSON.parse(line) as Partial<PsFirewallRule>;
    } catch {
      return null;
    }
    if (typeof raw !== 'object' || raw === null || typeof raw.name !== 'string') return null;
    rules.push(ruleOf(raw as PsFirewallRule));
  }
  return rules;
}

function ruleOf(raw: PsFirewallRule): FirewallRule {
  const unreadable: string[] = [];
  const value = <T>(field: string, text: string, table: Record<string, T>): T | null => {
    const found = table[String(text).toLowerCase()];
    if (found === undefined) unreadable.push(`${field} "${text}"`);
    return found ?? null;
  };
  const profiles = profileList(String(raw.profile));
  if (profiles === null) unreadable.push(`profiles "${raw.profile}"`);
  const protocol = String(raw.protocol ?? '');
  const hasPorts = /^(tcp|udp)$/i.test(protocol);
  const rule: FirewallRule = {
    name: raw.name,
    enabled: value('enabled', raw.enabled, ENABLED),
    direction: value('direction', raw.direction, DIRECTION),
    profiles: profiles ?? String(raw.profile),
    protocol,
    localPort: hasPorts ? String(raw.localPort ?? '') : '',
    remotePort: hasPorts ? String(raw.remotePort ?? '') : '',
    action: value('action', raw.action, ACTION),
  };
  if (unreadable.length > 0) rule.unreadable = unreadable;
  return rule;
}

/** `Any` or a flags list such as `Domain, Private`, as netsh prints profiles (`Domain,Private,Public`). */
function profileList(text: string): string | null {
  if (text.toLowerCase() === 'any') return PROFILES.join(',');
  const parts = text.split(',').map((p) => p.trim());
  const named = PROFILES.filter((p) => parts.some((part) => part.toLowerCase() === p.toLowerCase()));
  return named.length === parts.length && named.length > 0 ? named.join(',') : null;
}
