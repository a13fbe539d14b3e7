/**
 * The simulated answer to the `firewall-rules` script (windows/firewallPowershell.ts): one
 * compressed JSON line per rule, as `ConvertTo-Json -Compress` prints the object the script
 * builds, with the NetSecurity enumeration names (`True`, `Outbound`, `Allow`, `Any` or
 * `Domain, Private`). The rules are the state's (stored in netsh's English words); a word
 * that is not one of those is printed as stored, so tests can feed unknown values.
 * A netsh bypass rule is `Allow` here: NetSecurity keeps "bypass" in a separate property.
 *
 * State knob `netSecurity: false`: PowerShell has no NetSecurity module (or refuses to load
 * it); the script then fails as PowerShell 5.1 does on an unknown command, exit 1.
 */
import type { CommandResult } from '../runner.js';
import { CRLF, result } from './output.js';
import type { SimFirewallRule, SimState } from './state.js';

const WORDS: Record<string, string> = { Yes: 'True', No: 'False', In: 'Inbound', Out: 'Outbound', Bypass: 'Allow' };
const ALL_PROFILES = 'Domain,Private,Public';

function line(rule: SimFirewallRule): string {
  const say = (word: string): string => WORDS[word] ?? word;
  const profiles = rule.profiles === ALL_PROFILES ? 'Any' : rule.profiles.split(',').join(', ');
  return JSON.stringify({
    name: rule.name,
    enabled: say(rule.enabled),
    direction: say(rule.direction),
    action: say(rule.action),
    profile: profiles,
    protocol: rule.protocol,
    localPort: rule.localPort,
    remotePort: rule.remotePort,
  });
}

export function runFirewallRules(state: SimState, params: Record<string, string>): CommandResult {
  if (state.netSecurity === false) {
    return result(
      1,
      '',
      "Get-NetFirewallRule : The term 'Get-NetFirewallRule' is not recognized as the name of a cmdlet, function, script file, or operable program." + CRLF,
    );
  }
  const names = Object.keys(params)
    .filter((k) => /^name\d+$/.test(k))
    .sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)))
    .map((k) => params[k]!);
  const found = names.flatMap((name) => state.firewall.filter((r) => r.name.toLowerCase() === name.toLowerCase()));
  return result(0, found.map((r) => line(r) + CRLF).join(''));
}
