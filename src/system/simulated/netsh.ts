/**
 * The simulated `netsh.exe advfirewall firewall`: `show`, `add` and `delete rule`.
 *
 * Firewall values are stored in English and translated when printed; a word the
 * translation table does not know (e.g. "Actif") is printed as stored, which lets tests
 * feed unknown localized words to the parser.
 */
import { CRLF, lines, result, unsupported } from './output.js';
import { TEXTS, type Texts } from './recordings.js';
import type { SimFirewallRule, SimState } from './state.js';
import type { CommandResult } from '../runner.js';

interface NetshOptions {
  [key: string]: string;
}

/** `key=value` arguments; keys are case-insensitive, values may hold spaces and parentheses. */
function parseNetshOptions(args: string[]): NetshOptions | string {
  const options: NetshOptions = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq <= 0) return `"${arg}" is not a key=value argument`;
    const key = arg.slice(0, eq).trim().toLowerCase();
    let value = arg.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (key in options) return `"${key}" is given twice`;
    options[key] = value;
  }
  return options;
}

export function runNetsh(state: SimState, args: string[]): CommandResult {
  const texts = TEXTS[state.language];
  const [context, subcontext, verb, object, ...rest] = args.map((a, i) => (i < 4 ? a.toLowerCase() : a));
  if (context !== 'advfirewall' || subcontext !== 'firewall' || object !== 'rule' || verb === undefined) {
    return unsupported('netsh.exe', args);
  }
  const options = parseNetshOptions(rest);
  // Not exit 1: that would read as "no rules match" to a caller.
  if (typeof options === 'string') return result(87, '', `simulated netsh.exe: ${options}${CRLF}`);
  if (verb === 'show') return netshShow(state, texts, options, args);
  if (verb === 'add') return netshAdd(state, texts, options, args);
  if (verb === 'delete') return netshDelete(state, texts, options, args);
  return unsupported('netsh.exe', args);
}

function rulesNamed(state: SimState, name: string): SimFirewallRule[] {
  if (name.toLowerCase() === 'all') return state.firewall;
  return state.firewall.filter((r) => r.name.toLowerCase() === name.toLowerCase());
}

function noRules(texts: Texts): CommandResult {
  return result(1, lines('', texts.noRules, ''));
}

function netshShow(state: SimState, texts: Texts, options: NetshOptions, args: string[]): CommandResult {
  const keys = Object.keys(options);
  if (keys.length !== 1 || options.name === undefined) return unsupported('netsh.exe', args);
  const rules = rulesNamed(state, options.name);
  if (rules.length === 0) return noRules(texts);
  const blocks = rules.map((rule) => showBlock(texts, rule));
  return result(0, CRLF + blocks.join('') + lines(texts.ok, ''));
}

function showBlock(texts: Texts, rule: SimFirewallRule): string {
  const say = (word: string): string => texts.values[word] ?? word;
  const sayList = (list: string): string =>
    list
      .split(',')
      .map((w) => say(w.trim()))
      .join(',');
  const [name, enabled, direction, profiles, grouping, localIp, remoteIp, protocol, localPort, remotePort, edge, action] = texts.ruleLabels;
  const row = (label: string | undefined, value: string): string => `${label!.padEnd(38)}${value}`.trimEnd();
  const hasPorts = /^(tcp|udp)$/i.test(rule.protocol);
  return lines(
    row(name, rule.name),
    '-'.repeat(70),
    row(enabled, say(rule.enabled)),
    row(direction, say(rule.direction)),
    row(profiles, sayList(rule.profiles)),
    row(grouping, rule.grouping),
    row(localIp, say(rule.localIp)),
    row(remoteIp, say(rule.remoteIp)),
    row(protocol, say(rule.protocol)),
    ...(hasPorts ? [row(localPort, say(rule.localPort)), row(remotePort, say(rule.remotePort))] : []),
    row(edge, say(rule.edgeTraversal)),
    row(action, say(rule.action)),
    '',
  );
}

const ADD_KEYS = ['name', 'dir', 'action', 'protocol', 'localport', 'remoteport', 'profile', 'enable'];

function netshAdd(state: SimState, texts: Texts, options: NetshOptions, args: string[]): CommandResult {
  if (Object.keys(options).some((k) => !ADD_KEYS.includes(k))) return unsupported('netsh.exe', args);
  if (!state.elevated) return result(1, lines(texts.needsElevation, ''));
  const invalid = (why: string): CommandResult => result(1, lines(texts.invalidValue, ''), `simulated netsh.exe: ${why}${CRLF}`);
  const { name, dir, action } = options;
  if (!name || name.toLowerCase() === 'all') return invalid('add rule needs a name other than "all"');
  const direction = pick({ in: 'In', out: 'Out' }, dir);
  if (!direction) return invalid('dir must be in or out');
  const verdict = pick({ allow: 'Allow', block: 'Block', bypass: 'Bypass' }, action);
  if (!verdict) return invalid('action must be allow, block or bypass');
  const protocol = (options.protocol ?? 'any').toLowerCase();
  if (!/^(tcp|udp|any|icmpv4|icmpv6|\d{1,3})$/.test(protocol)) return invalid(`protocol "${options.protocol}" is not valid`);
  const portsAllowed = protocol === 'tcp' || protocol === 'udp';
  const port = (value: string | undefined): string | null => {
    if (value === undefined || value.toLowerCase() === 'any') return 'Any';
    return /^\d{1,5}(-\d{1,5})?(,\d{1,5}(-\d{1,5})?)*$/.test(value) ? value : null;
  };
  const localPort = port(options.localport);
  const remotePort = port(options.remoteport);
  if (localPort === null || remotePort === null) return invalid('ports must be numbers, ranges or any');
  if (!portsAllowed && (options.localport !== undefined || options.remoteport !== undefined)) {
    return invalid('ports can only be given for TCP or UDP');
  }
  const profiles = profileList(options.profile ?? 'any');
  if (profiles === null) return invalid('profile must be any or a list of domain, private, public');
  const enable = pick({ yes: 'Yes', no: 'No' }, options.enable ?? 'yes');
  if (!enable) return invalid('enable must be yes or no');
  state.firewall.push({
    name,
    enabled: enable,
    direction,
    profiles,
    grouping: '',
    localIp: 'Any',
    remoteIp: 'Any',
    protocol: protocol === 'any' ? 'Any' : protocol.toUpperCase(),
    localPort,
    remotePort,
    edgeTraversal: 'No',
    action: verdict,
  });
  return result(0, lines(texts.ok, ''));
}

/** netsh's keywords are case-insensitive; the state stores them as netsh prints them. */
function pick(table: Record<string, string>, value: string | undefined): string | undefined {
  return value === undefined ? undefined : table[value.toLowerCase()];
}

function profileList(value: string): string | null {
  const order = ['Domain', 'Private', 'Public'];
  const wanted = value.split(',').map((p) => p.trim().toLowerCase());
  if (wanted.includes('any')) return wanted.length === 1 ? order.join(',') : null;
  if (wanted.some((p) => !['domain', 'private', 'public'].includes(p))) return null;
  return order.filter((p) => wanted.includes(p.toLowerCase())).join(',');
}

function netshDelete(state: SimState, texts: Texts, options: NetshOptions, args: string[]): CommandResult {
  if (Object.keys(options).length !== 1 || options.name === undefined) return unsupported('netsh.exe', args);
  if (!state.elevated) return result(1, lines(texts.needsElevation, ''));
  const doomed = new Set(rulesNamed(state, options.name));
  if (doomed.size === 0) return noRules(texts);
  state.firewall = state.firewall.filter((r) => !doomed.has(r));
  return result(0, lines('', texts.deleted(doomed.size), texts.ok, ''));
}
