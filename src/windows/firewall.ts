import { ExitCode, KerioDccError } from '../errors.js';
import type { CommandRequest, CommandResult, CommandRunner } from '../system/runner.js';
import type { Target } from '../target/target.js';
import { describeFailure, systemTool } from './tools.js';

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

/*
 * Localized values netsh prints, lower-cased. English is confirmed (docs/windows-tools.md); the German
 * and French words come from published netsh captures and are a best effort. A word
 * missing here is reported as unreadable, never guessed.
 */
const ENABLED_WORDS: Record<string, boolean> = {
  yes: true, ja: true, oui: true,
  no: false, nein: false, non: false,
};
const DIRECTION_WORDS: Record<string, 'in' | 'out'> = {
  in: 'in', eingehend: 'in', eingang: 'in', 'entrée': 'in', entrant: 'in',
  out: 'out', ausgehend: 'out', ausgang: 'out', sortie: 'out', sortant: 'out',
};
const ACTION_WORDS: Record<string, 'allow' | 'block' | 'bypass'> = {
  allow: 'allow', zulassen: 'allow', autoriser: 'allow',
  block: 'block', blockieren: 'block', bloquer: 'block',
  bypass: 'bypass', umgehen: 'bypass', contourner: 'bypass',
};
const PROFILE_WORDS: Record<string, 'domain' | 'private' | 'public'> = {
  domain: 'domain', 'domäne': 'domain', domaine: 'domain',
  private: 'private', privat: 'private', 'privé': 'private',
  public: 'public', 'öffentlich': 'public',
};

const DASHED_LINE = /^-{20,}\s*$/;
// Some East Asian builds print a full-width colon after the label.
const LABEL_END = /[:\uff1a]/;

function valueAfterLabel(line: string): string {
  const at = line.search(LABEL_END);
  return at === -1 ? '' : line.slice(at + 1).trim();
}

function isFieldLine(line: string): boolean {
  return line.trim() !== '' && LABEL_END.test(line);
}

/**
 * Parses `show rule` output into one rule per block. Labels are localized, so fields are
 * read by POSITION after the dashed line: Enabled, Direction, Profiles, Grouping, LocalIP,
 * RemoteIP, Protocol, then LocalPort and RemotePort (printed only for TCP/UDP), ...; the
 * Action is always the block's last line.
 */
export function parseShowRuleOutput(stdout: string): FirewallRule[] {
  const lines = stdout.split(/\r?\n/);
  const rules: FirewallRule[] = [];
  for (let i = 1; i < lines.length; i++) {
    if (!DASHED_LINE.test(lines[i]!)) continue;
    const name = valueAfterLabel(lines[i - 1]!);
    const values: string[] = [];
    for (let j = i + 1; j < lines.length; j++) {
      const line = lines[j]!;
      const nextIsDashes = j + 1 < lines.length && DASHED_LINE.test(lines[j + 1]!);
      if (!isFieldLine(line) || nextIsDashes) break;
      values.push(valueAfterLabel(line));
    }
    rules.push(ruleFromValues(name, values));
  }
  return rules;
}

const POSITION = { enabled: 0, direction: 1, profiles: 2, protocol: 6, localPort: 7, remotePort: 8 } as const;
const MIN_FIELDS = POSITION.protocol + 2;

function ruleFromValues(name: string, values: string[]): FirewallRule {
  const unreadable: string[] = [];
  if (values.length < MIN_FIELDS) unreadable.push(`the rule block has ${values.length} lines, expected at least ${MIN_FIELDS}`);
  const word = <T>(field: string, raw: string | undefined, table: Record<string, T>): T | null => {
    const found = raw === undefined ? undefined : table[raw.toLowerCase()];
    if (found !== undefined) return found;
    if (raw !== undefined && values.length >= MIN_FIELDS) unreadable.push(`${field} "${raw}"`);
    return null;
  };
  const protocol = values[POSITION.protocol] ?? '';
  const hasPorts = /^(tcp|udp)$/i.test(protocol);
  const rule: FirewallRule = {
    name,
    enabled: word('enabled', values[POSITION.enabled], ENABLED_WORDS),
    direction: word('direction', values[POSITION.direction], DIRECTION_WORDS),
    profiles: values[POSITION.profiles] ?? '',
    protocol,
    localPort: hasPorts ? (values[POSITION.localPort] ?? '') : '',
    remotePort: hasPorts ? (values[POSITION.remotePort] ?? '') : '',
    action: values.length >= MIN_FIELDS ? word('action', values[values.length - 1], ACTION_WORDS) : null,
  };
  if (readProfiles(rule.profiles) === null && rule.profiles !== '') unreadable.push(`profiles "${rule.profiles}"`);
  if (unreadable.length > 0) rule.unreadable = unreadable;
  return rule;
}

type ProfileSet = ReadonlySet<'domain' | 'private' | 'public'>;

/** The profiles a rule applies to, or null when a localized profile word is unknown. */
function readProfiles(text: string): ProfileSet | null {
  const parts = splitList(text);
  const known = parts.map((p) => PROFILE_WORDS[p.toLowerCase()]);
  if (known.some((p) => p === undefined)) return null;
  return new Set(known as Array<'domain' | 'private' | 'public'>);
}

function splitList(text: string): string[] {
  return text.split(',').map((p) => p.trim()).filter(Boolean);
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

function normalizePorts(ports: string): string {
  return ports.replace(/\s+/g, '').toLowerCase();
}

/** Differences that matter, in words for the plan's reason; unreadable fields are not differences. */
export function describeDifferences(actual: FirewallRule, wanted: FirewallRule): string[] {
  const diffs: string[] = [];
  const known = <T>(a: T | null, w: T | null): boolean => a === null || w === null || a === w;
  if (!known(actual.enabled, wanted.enabled)) diffs.push(actual.enabled ? 'enabled (wanted disabled)' : 'disabled');
  if (!known(actual.direction, wanted.direction)) diffs.push(`direction ${actual.direction} (wanted ${wanted.direction})`);
  if (!known(actual.action, wanted.action)) diffs.push(`action ${actual.action} (wanted ${wanted.action})`);
  if (actual.protocol.toLowerCase() !== wanted.protocol.toLowerCase())
    diffs.push(`protocol ${actual.protocol || '(none)'} (wanted ${wanted.protocol})`);
  if (normalizePorts(actual.localPort) !== normalizePorts(wanted.localPort))
    diffs.push(`local port ${actual.localPort || '(none)'} (wanted ${wanted.localPort})`);
  if (normalizePorts(actual.remotePort) !== normalizePorts(wanted.remotePort))
    diffs.push(`remote port ${actual.remotePort || '(none)'} (wanted ${wanted.remotePort})`);
  if (sameProfiles(actual.profiles, wanted.profiles) === false)
    diffs.push(`profiles ${actual.profiles || '(none)'} (wanted ${wanted.profiles})`);
  return diffs;
}

export function ruleMatches(actual: FirewallRule, wanted: FirewallRule): boolean {
  return actual.name.toLowerCase() === wanted.name.toLowerCase() && describeDifferences(actual, wanted).length === 0;
}

/** netsh failed. Before any change (planning, status) that is exit 3; during a run, apply restores (4/5). */
export class FirewallError extends KerioDccError {
  constructor(message: string, hint?: string) {
    super(ExitCode.precondition, message, hint);
    this.name = 'FirewallError';
  }
}

function netsh(target: Target, args: string[], mutates: boolean): CommandRequest {
  return { program: systemTool(target, 'netsh.exe'), args: ['advfirewall', 'firewall', ...args], mutates };
}

export function showRuleRequest(target: Target, name: string): CommandRequest {
  return netsh(target, ['show', 'rule', `name=${name}`], false);
}

/** The rules named `name`; an empty list when netsh says none match (exit 1, whatever the language). */
export async function showRules(runner: CommandRunner, target: Target, name: string): Promise<FirewallRule[]> {
  const request = showRuleRequest(target, name);
  const result = await runner.run(request);
  if (result.exitCode === 1 && !result.timedOut) return [];
  if (result.exitCode !== 0 || result.timedOut) {
    throw new FirewallError(`Could not read the firewall rule "${name}": ${describeFailure(request, result)}`);
  }
  const rules = parseShowRuleOutput(result.stdout);
  if (rules.length === 0) {
    throw new FirewallError(
      `netsh reported success but printed no rule block for "${name}"; its output was:\n${result.stdout.trim()}`,
    );
  }
  return rules;
}

function profileArgument(profiles: string): string {
  const set = readProfiles(profiles);
  if (set === null || set.size === 0) throw new Error(`internal: cannot add a rule with profiles "${profiles}"`);
  if (set.size === 3) return 'any';
  return (['domain', 'private', 'public'] as const).filter((p) => set.has(p)).join(',');
}

const NUMERIC_PORTS = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;

/**
 * The `add rule` command for a rule. A protocol or ports that are not netsh keywords or
 * numbers (`Any`, or its localized word in a parsed rule) are left out: netsh's default is any.
 */
export function addRuleRequest(target: Target, rule: FirewallRule): CommandRequest {
  if (rule.direction === null || rule.action === null || rule.enabled === null) {
    throw new FirewallError(
      `Cannot create the firewall rule "${rule.name}": its direction, action or state is not known` +
        (rule.unreadable?.length ? ` (netsh printed ${rule.unreadable.join(', ')}, which this tool cannot read)` : ''),
      'Create or restore this rule by hand in "Windows Firewall with Advanced Security".',
    );
  }
  const args = ['add', 'rule', `name=${rule.name}`, `dir=${rule.direction}`, `action=${rule.action}`];
  if (/^(tcp|udp|icmpv4|icmpv6|\d+)$/i.test(rule.protocol)) args.push(`protocol=${rule.protocol}`);
  const localPort = normalizePorts(rule.localPort);
  const remotePort = normalizePorts(rule.remotePort);
  if (NUMERIC_PORTS.test(localPort)) args.push(`localport=${localPort}`);
  if (NUMERIC_PORTS.test(remotePort)) args.push(`remoteport=${remotePort}`);
  args.push(`profile=${profileArgument(rule.profiles)}`, `enable=${rule.enabled ? 'yes' : 'no'}`);
  return netsh(target, args, true);
}

/** Deletes every rule with this name: netsh has no "delete just one of the duplicates". */
export function deleteRuleRequest(target: Target, name: string): CommandRequest {
  return netsh(target, ['delete', 'rule', `name=${name}`], true);
}

/**
 * Runs an add or delete. netsh answers a refused change (not elevated) with exit 1 in the
 * system's language, so exit 1 is reported with the elevation hint and the text as printed.
 */
export async function runFirewallChange(runner: CommandRunner, request: CommandRequest): Promise<CommandResult> {
  const result = await runner.run(request);
  if (result.exitCode === 0 && !result.timedOut) return result;
  const hint =
    result.exitCode === 1
      ? 'netsh refuses firewall changes from a prompt that is not elevated: run kerio-dcc from an elevated prompt (Run as administrator).'
      : undefined;
  throw new FirewallError(`Changing the Windows Firewall failed: ${describeFailure(request, result)}`, hint);
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
 * Reads the firewall and decides, per wanted rule, what to do. Only `show` runs here;
 * the returned requests are applied later (and never in a dry run).
 */
export async function planFirewallRules(runner: CommandRunner, target: Target, prefix: string): Promise<FirewallRulePlan[]> {
  const plans: FirewallRulePlan[] = [];
  for (const wanted of dccFirewallRules(prefix)) {
    const found = await showRules(runner, target, wanted.name);
    plans.push(planOneRule(target, wanted, found));
  }
  return plans;
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
