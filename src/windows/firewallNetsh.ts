/**
 * netsh advfirewall firewall: the changes (add, delete), and reading a rule when PowerShell
 * cannot (its output is in the display language, so words are read from tables).
 */
import { ExitCode, KerioDccError } from '../errors.js';
import type { CommandRequest, CommandResult, CommandRunner } from '../system/runner.js';
import type { Target } from '../target/target.js';
import { normalizePorts, readProfiles, type FirewallRule } from './firewallRule.js';
import { describeFailure, systemTool } from './tools.js';

/*
 * Localized values netsh prints, lower-cased. English is confirmed (docs/windows-tools.md); the German
 * and French words come from published netsh captures and are a best effort. A word
 * missing here is reported as unreadable, never guessed.
 */
const ENABLED_WORDS: Record<string, boolean> = {
  yes: true,
  ja: true,
  oui: true,
  no: false,
  nein: false,
  non: false,
};
const DIRECTION_WORDS: Record<string, 'in' | 'out'> = {
  in: 'in',
  eingehend: 'in',
  eingang: 'in',
  entrée: 'in',
  entrant: 'in',
  out: 'out',
  ausgehend: 'out',
  ausgang: 'out',
  sortie: 'out',
  sortant: 'out',
};
const ACTION_WORDS: Record<string, 'allow' | 'block' | 'bypass'> = {
  allow: 'allow',
  zulassen: 'allow',
  autoriser: 'allow',
  block: 'block',
  blockieren: 'block',
  bloquer: 'block',
  bypass: 'bypass',
  umgehen: 'bypass',
  contourner: 'bypass',
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

/** netsh's answer: the rules named `name`; an empty list when netsh says none match (exit 1, whatever the language). */
export async function netshShowRules(runner: CommandRunner, target: Target, name: string): Promise<FirewallRule[]> {
  const request = showRuleRequest(target, name);
  const result = await runner.run(request);
  if (result.exitCode === 1 && !result.timedOut) return [];
  if (result.exitCode !== 0 || result.timedOut) {
    throw new FirewallError(`Could not read the firewall rule "${name}": ${describeFailure(request, result)}`);
  }
  const rules = parseShowRuleOutput(result.stdout);
  if (rules.length === 0) {
    throw new FirewallError(`netsh reported success but printed no rule block for "${name}"; its output was:\n${result.stdout.trim()}`);
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
