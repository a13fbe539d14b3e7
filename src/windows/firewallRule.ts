/**
 * A Windows Firewall rule as kerio-dcc reads and wants it, the two rules DCC needs, and how two
 * rules are compared. Read from PowerShell (firewallPowershell.ts) or netsh (firewallNetsh.ts).
 */
/**
 * One Windows Firewall rule as `netsh advfirewall firewall show rule` prints it. netsh
 * output is localized: `null` means netsh printed a word we cannot read (see
 * `unreadable`), which is compared as "cannot tell", never as a difference.
 */
export interface FirewallRule {
  name: string;
  enabled: boolean | null;
  direction: 'in' | 'out' | null;
  /** As printed, e.g. `Domain,Private,Public` or `Domäne,Privat,Öffentlich`. */
  profiles: string;
  protocol: string;
  /** Empty when netsh printed no port line (protocols other than TCP/UDP). */
  localPort: string;
  remotePort: string;
  action: 'allow' | 'block' | 'bypass' | null;
  /** Fields netsh printed in words we could not map, e.g. `direction "Actif"`; set by the parser only. */
  unreadable?: string[];
}

export const DCC_PORT = 6277;
const EPHEMERAL_PORTS = '1024-65535';
const ALL_PROFILES = 'Domain,Private,Public';

/**
 * The two rules DCC needs: queries leave from a local port above 1023 to the server's
 * UDP 6277, and the answers come back from 6277 to that local port.
 */
export function dccFirewallRules(prefix: string): FirewallRule[] {
  const base = {
    enabled: true,
    profiles: ALL_PROFILES,
    protocol: 'UDP',
    localPort: EPHEMERAL_PORTS,
    remotePort: String(DCC_PORT),
    action: 'allow',
  } as const;
  return [
    { name: `${prefix} (UDP ${DCC_PORT} out)`, direction: 'out', ...base },
    { name: `${prefix} (UDP ${DCC_PORT} in)`, direction: 'in', ...base },
  ];
}

/** Profile names as netsh prints them in English, German and French, lower-cased; PowerShell gives the English ones. */
const PROFILE_WORDS: Record<string, 'domain' | 'private' | 'public'> = {
  domain: 'domain',
  domäne: 'domain',
  domaine: 'domain',
  private: 'private',
  privat: 'private',
  privé: 'private',
  public: 'public',
  öffentlich: 'public',
};

type ProfileSet = ReadonlySet<'domain' | 'private' | 'public'>;

/** The profiles a rule applies to, or null when a localized profile word is unknown. */
export function readProfiles(text: string): ProfileSet | null {
  const parts = splitList(text);
  const known = parts.map((p) => PROFILE_WORDS[p.toLowerCase()]);
  if (known.some((p) => p === undefined)) return null;
  return new Set(known as Array<'domain' | 'private' | 'public'>);
}

function splitList(text: string): string[] {
  return text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
}

function sameProfiles(actual: string, wanted: string): boolean | null {
  const want = readProfiles(wanted);
  const have = readProfiles(actual);
  if (want === null) throw new Error(`internal: wanted firewall profiles "${wanted}" are not Domain/Private/Public`);
  if (have !== null) return have.size === want.size && [...want].every((p) => have.has(p));
  // Unknown words: the number of distinct profiles still tells "all three" from fewer.
  const count = new Set(splitList(actual).map((p) => p.toLowerCase())).size;
  if (want.size === 3) return count === 3;
  return count !== want.size ? false : null;
}

export function normalizePorts(ports: string): string {
  return ports.replace(/\s+/g, '').toLowerCase();
}

/** Differences that matter, in words for the plan's reason; unreadable fields are not differences. */
export function describeDifferences(actual: FirewallRule, wanted: FirewallRule): string[] {
  const diffs: string[] = [];
  const known = <T>(a: T | null, w: T | null): boolean => a === null || w === null || a === w;
  if (!known(actual.enabled, wanted.enabled)) diffs.push(actual.enabled ? 'enabled (wanted disabled)' : 'disabled');
  if (!known(actual.direction, wanted.direction)) diffs.push(`direction ${actual.direction} (wanted ${wanted.direction})`);
  if (!known(actual.action, wanted.action)) diffs.push(`action ${actual.action} (wanted ${wanted.action})`);
  if (actual.protocol.toLowerCase() !== wanted.protocol.toLowerCase()) diffs.push(`protocol ${actual.protocol || '(none)'} (wanted ${wanted.protocol})`);
  if (normalizePorts(actual.localPort) !== normalizePorts(wanted.localPort))
    diffs.push(`local port ${actual.localPort || '(none)'} (wanted ${wanted.localPort})`);
  if (normalizePorts(actual.remotePort) !== normalizePorts(wanted.remotePort))
    diffs.push(`remote port ${actual.remotePort || '(none)'} (wanted ${wanted.remotePort})`);
  if (sameProfiles(actual.profiles, wanted.profiles) === false) diffs.push(`profiles ${actual.profiles || '(none)'} (wanted ${wanted.profiles})`);
  return diffs;
}

export function ruleMatches(actual: FirewallRule, wanted: FirewallRule): boolean {
  return actual.name.toLowerCase() === wanted.name.toLowerCase() && describeDifferences(actual, wanted).length === 0;
}
