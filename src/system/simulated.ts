/**
 * An in-process stand-in for `sc.exe`, `netsh.exe` and `net.exe`, for offline images,
 * the demo and tests. It prints what the real tools print (docs/windows-tools.md) and returns their
 * exit codes, so the same parsing code runs against it as against Windows.
 *
 * State lives in a JSON file (inside the image: SIMULATED_STATE_PATH), read before and
 * written atomically after every command that changes it, so separate processes see one
 * system. Shape, with every behaviour knob (edit the file to set them):
 *
 * {
 *   "schema": 1,
 *   "elevated": true,              // false: sc stop/start -> exit 5, netsh add/delete -> exit 1, net session -> exit 2
 *   "language": "en",              // "de": German messages and netsh labels/values (decide by exit code and position!)
 *   "services": {
 *     "KerioMailServer": {
 *       "state": 4,                // 1 STOPPED, 2 START_PENDING, 3 STOP_PENDING, 4 RUNNING
 *       "binaryPath": "\"C:\\Program Files (x86)\\Kerio\\MailServer\\mailserver.exe\"",  // as sc qc prints it
 *       "startName": "LocalSystem",
 *       "stopHangs": false,        // true: after sc stop the service stays STOP_PENDING for ever
 *       "stopPolls": 0,            // optional: a slow stop, STOP_PENDING for this many more queries
 *       "startFails": false,       // true: after sc start the next query finds it STOPPED (WIN32_EXIT_CODE 1067);
 *                                  // a number N: only the next N starts fail (a config the service rejects, then restored)
 *       "displayName": "Kerio Connect",   // optional
 *       "win32ExitCode": 0         // optional; what sc query prints as WIN32_EXIT_CODE
 *     }
 *   },
 *   "shortNames": false,           // optional: the volume has 8.3 names off (simulated/shortName.ts)
 *   "firewall": [                  // in creation order; duplicates allowed, as on Windows
 *     { "name": "...", "enabled": "Yes", "direction": "Out", "profiles": "Domain,Private,Public", "grouping": "",
 *       "localIp": "Any", "remoteIp": "Any", "protocol": "UDP", "localPort": "1024-65535", "remotePort": "6277",
 *       "edgeTraversal": "No", "action": "Allow" }
 *   ],
 *   "acls": {                      // optional: owner and DACL (SDDL) of folders, by lower-cased path; a folder
 *     "c:\\programdata\\kerio-dcc": { "sddl": "O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)" }
 *   }                              // with none has ProgramData's inherited ACL (simulated/acl.ts)
 * }
 *
 * Firewall values are stored in English and translated when printed; a word the
 * translation table does not know (e.g. "Actif") is printed as stored, which lets tests
 * feed unknown localized words to the parser.
 *
 * Like the real tools, `sc stop`/`sc start` only ask: stop leaves the service STOP_PENDING
 * and the next `sc query` finds it STOPPED; start leaves it START_PENDING and the next
 * query finds it RUNNING (or STOPPED when startFails).
 */
import { access, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from '../errors.js';
import { atomicWrite } from '../fs/atomicWrite.js';
import { basenameWin, joinWin, type Target, type WinPath } from '../target/target.js';
import type { CommandRequest, CommandResult, CommandRunner } from './runner.js';
import { runPowershell } from './simulatedPowershell.js';
import { runSimulatedDccproc, SIM_DCCPROC_MODES, type SimDccproc } from './simulatedDccproc.js';
import { runIcacls } from './simulated/acl.js';
import { runSchtasks, type SimTask } from './simulated/schtasks.js';
import { runEventcreate, type SimEvent } from './simulated/eventcreate.js';

export type { SimDccproc } from './simulatedDccproc.js';

export const SIMULATED_STATE_PATH: WinPath = 'C:\\ProgramData\\kerio-dcc\\simulated-system.json';

export type SimLanguage = 'en' | 'de';

export interface SimService {
  state: number;
  binaryPath: string;
  startName: string;
  stopHangs: boolean;
  /** A slow stop: the next this-many queries still find STOP_PENDING. */
  stopPolls?: number;
  startFails: boolean | number;
  displayName?: string;
  win32ExitCode?: number;
}

export interface SimFirewallRule {
  name: string;
  enabled: string;
  direction: string;
  profiles: string;
  grouping: string;
  localIp: string;
  remoteIp: string;
  protocol: string;
  localPort: string;
  remotePort: string;
  edgeTraversal: string;
  action: string;
}

export interface SimState {
  schema: 1;
  elevated: boolean;
  services: Record<string, SimService>;
  firewall: SimFirewallRule[];
  language: SimLanguage;
  /** Absent: dccproc answers as brand "SimulatedDCC". */
  dccproc?: SimDccproc;
  /** false: the volume has 8.3 short names turned off (simulated/shortName.ts); absent: on. */
  shortNames?: boolean;
  /**
   * Owner and DACL (SDDL) of folders, keyed by lower-cased Windows path; a folder with no
   * entry has what Windows gives it (simulated/acl.ts). Set one to simulate a hostile folder.
   */
  acls?: Record<string, SimAcl>;
  /** Scheduled tasks by lower-cased name (simulated/schtasks.ts). */
  tasks?: Record<string, SimTask>;
  /** Events written with eventcreate, oldest first (simulated/eventcreate.ts). */
  events?: SimEvent[];
}

export interface SimAcl {
  sddl: string;
}

/** What the simulated tools may look at in the image: the ACL tools list the real files. */
export interface SimHost {
  toHost(p: WinPath): string;
}

const STATE = { stopped: 1, startPending: 2, stopPending: 3, running: 4 } as const;
const KERIO_ROOTS: WinPath[] = ['C:\\Program Files\\Kerio\\MailServer', 'C:\\Program Files (x86)\\Kerio\\MailServer'];

/**
 * The default simulated server: Kerio's service running as LocalSystem from the
 * mailserver.exe found in the image, elevated, no firewall rules. Without a
 * mailserver.exe in either Program Files folder the service is not installed (sc 1060).
 */
export async function plainServerState(target: Target, serviceName: string): Promise<SimState> {
  const services: Record<string, SimService> = {};
  for (const root of KERIO_ROOTS) {
    const exe = joinWin(root, 'mailserver.exe');
    if (await exists(target.toHost(exe))) {
      services[serviceName] = {
        state: STATE.running,
        binaryPath: `"${exe}"`,
        startName: 'LocalSystem',
        stopHangs: false,
        startFails: false,
        displayName: 'Kerio Connect',
      };
      break;
    }
  }
  return { schema: 1, elevated: true, services, firewall: [], language: 'en' };
}

async function exists(hostPath: string): Promise<boolean> {
  try {
    await access(hostPath);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------- state file

/** The state in the file, or null when there is no file yet. */
export async function loadSimState(hostPath: string): Promise<SimState | null> {
  let text: string;
  try {
    text = await readFile(hostPath, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`The simulated system state ${hostPath} is not valid JSON: ${(err as Error).message}`);
  }
  return checkSimState(json, hostPath);
}

function checkSimState(json: unknown, where: string): SimState {
  const problems: string[] = [];
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(json)) throw new Error(`The simulated system state ${where} is not a JSON object.`);
  if (json.schema !== 1) problems.push(`schema must be 1, found ${JSON.stringify(json.schema)}`);
  if (typeof json.elevated !== 'boolean') problems.push('elevated must be true or false');
  const language = json.language ?? 'en';
  if (language !== 'en' && language !== 'de') problems.push(`language must be "en" or "de", found ${JSON.stringify(language)}`);
  const services: Record<string, SimService> = {};
  if (!isObject(json.services)) problems.push('services must be an object keyed by service name');
  else {
    for (const [name, raw] of Object.entries(json.services)) {
      if (!isObject(raw) || !Number.isInteger(raw.state) || typeof raw.binaryPath !== 'string') {
        problems.push(`services.${name} needs a numeric state and a binaryPath string`);
        continue;
      }
      services[name] = {
        state: raw.state as number,
        binaryPath: raw.binaryPath,
        startName: typeof raw.startName === 'string' ? raw.startName : 'LocalSystem',
        stopHangs: raw.stopHangs === true,
        ...(typeof raw.stopPolls === 'number' && raw.stopPolls > 0 ? { stopPolls: raw.stopPolls } : {}),
        startFails: raw.startFails === true || (typeof raw.startFails === 'number' && raw.startFails > 0 ? raw.startFails : false),
        ...(typeof raw.displayName === 'string' ? { displayName: raw.displayName } : {}),
        ...(typeof raw.win32ExitCode === 'number' ? { win32ExitCode: raw.win32ExitCode } : {}),
      };
    }
  }
  const firewall: SimFirewallRule[] = [];
  if (!Array.isArray(json.firewall)) problems.push('firewall must be an array of rules');
  else {
    json.firewall.forEach((raw: unknown, i: number) => {
      if (!isObject(raw) || typeof raw.name !== 'string') {
        problems.push(`firewall[${i}] needs a name`);
        return;
      }
      const field = (key: keyof SimFirewallRule, fallback: string): string =>
        typeof raw[key] === 'string' ? (raw[key] as string) : fallback;
      firewall.push({
        name: raw.name,
        enabled: field('enabled', 'Yes'),
        direction: field('direction', 'In'),
        profiles: field('profiles', 'Domain,Private,Public'),
        grouping: field('grouping', ''),
        localIp: field('localIp', 'Any'),
        remoteIp: field('remoteIp', 'Any'),
        protocol: field('protocol', 'Any'),
        localPort: field('localPort', 'Any'),
        remotePort: field('remotePort', 'Any'),
        edgeTraversal: field('edgeTraversal', 'No'),
        action: field('action', 'Allow'),
      });
    });
  }
  if (problems.length > 0) {
    throw new Error(`The simulated system state ${where} is not usable:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
  let dccproc: SimDccproc | undefined;
  if (json.dccproc !== undefined) {
    const d = json.dccproc;
    if (!isObject(d) || !SIM_DCCPROC_MODES.includes(d.mode as SimDccproc['mode'])) problems.push(`dccproc.mode must be one of ${SIM_DCCPROC_MODES.map((m) => `"${m}"`).join(', ')}`);
    else dccproc = { mode: d.mode as SimDccproc['mode'], brand: typeof d.brand === 'string' ? d.brand : 'SimulatedDCC', ...(typeof d.serverId === 'number' ? { serverId: d.serverId } : {}) };
  }
  if (json.shortNames !== undefined && typeof json.shortNames !== 'boolean') problems.push('shortNames must be true or false');
  if (problems.length > 0) {
    throw new Error(`The simulated system state ${where} is not usable:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
  let acls: Record<string, SimAcl> | undefined;
  if (json.acls !== undefined) {
    if (!isObject(json.acls) || Object.values(json.acls).some((a) => !isObject(a) || typeof a.sddl !== 'string')) {
      throw new Error(`The simulated system state ${where} is not usable:\n  - acls must map folder paths to { "sddl": "O:..D:.." }`);
    }
    acls = json.acls as Record<string, SimAcl>;
  }
  return { schema: 1, elevated: json.elevated as boolean, services, firewall, language: language as SimLanguage, ...(dccproc ? { dccproc } : {}), ...(json.shortNames === false ? { shortNames: false } : {}), ...(acls ? { acls } : {}), ...(isObject(json.tasks) ? { tasks: json.tasks as Record<string, SimTask> } : {}), ...(Array.isArray(json.events) ? { events: json.events as SimEvent[] } : {}) };
}

/** Written atomically (temp file in the same folder, then rename), so a reader never sees half a file. */
export async function saveSimState(hostPath: string, state: SimState): Promise<void> {
  await mkdir(path.dirname(hostPath), { recursive: true });
  await atomicWrite(hostPath, Buffer.from(JSON.stringify(state, null, 2) + '\n', 'utf8'));
}

// ---------------------------------------------------------------------------- texts

interface Texts {
  scSuccess: string;
  scFailed: string;
  win32: Record<number, string>;
  ok: string;
  noRules: string;
  deleted: (n: number) => string;
  needsElevation: string;
  invalidValue: string;
  netNoEntries: string;
  netSystemError5: string;
  ruleLabels: readonly string[];
  values: Record<string, string>;
}

const TEXTS: Record<SimLanguage, Texts> = {
  en: {
    scSuccess: 'SUCCESS',
    scFailed: 'FAILED',
    win32: {
      5: 'Access is denied.',
      1056: 'An instance of the service is already running.',
      1060: 'The specified service does not exist as an installed service.',
      1061: 'The service cannot accept control messages at this time.',
      1062: 'The service has not been started.',
    },
    ok: 'Ok.',
    noRules: 'No rules match the specified criteria.',
    deleted: (n) => `Deleted ${n} rule(s).`,
    needsElevation: 'The requested operation requires elevation (Run as administrator).',
    invalidValue: 'A specified value is not valid.',
    netNoEntries: 'There are no entries in the list.',
    netSystemError5: 'System error 5 has occurred.\r\n\r\nAccess is denied.',
    ruleLabels: ['Rule Name:', 'Enabled:', 'Direction:', 'Profiles:', 'Grouping:', 'LocalIP:', 'RemoteIP:', 'Protocol:',
      'LocalPort:', 'RemotePort:', 'Edge traversal:', 'Action:'],
    values: {},
  },
  // Illustrative German texts: they exist to prove that decisions never depend on words.
  de: {
    scSuccess: 'ERFOLG',
    scFailed: 'FEHLER',
    win32: {
      5: 'Zugriff verweigert',
      1056: 'Eine Instanz des Dienstes wird bereits ausgeführt.',
      1060: 'Der angegebene Dienst ist kein installierter Dienst.',
      1061: 'Der Dienst kann zurzeit keine Steuerungsmeldungen annehmen.',
      1062: 'Der Dienst wurde nicht gestartet.',
    },
    ok: 'OK.',
    noRules: 'Keine Regeln entsprechen den angegebenen Kriterien.',
    deleted: (n) => `${n} Regel(n) gelöscht.`,
    needsElevation: 'Für den angeforderten Vorgang sind erhöhte Rechte erforderlich (Als Administrator ausführen).',
    invalidValue: 'Ein angegebener Wert ist ungültig.',
    netNoEntries: 'Es sind keine Einträge in der Liste vorhanden.',
    netSystemError5: 'Systemfehler 5 aufgetreten.\r\n\r\nZugriff verweigert',
    ruleLabels: ['Regelname:', 'Aktiviert:', 'Richtung:', 'Profile:', 'Gruppierung:', 'LokaleIP:', 'RemoteIP:', 'Protokoll:',
      'Lokaler Port:', 'Remoteport:', 'Edgeausnahme:', 'Aktion:'],
    values: {
      Yes: 'Ja', No: 'Nein', In: 'Eingehend', Out: 'Ausgehend', Allow: 'Zulassen', Block: 'Blockieren', Bypass: 'Umgehen',
      Any: 'Beliebig', Domain: 'Domäne', Private: 'Privat', Public: 'Öffentlich',
    },
  },
};

const CRLF = '\r\n';

function lines(...texts: string[]): string {
  return texts.join(CRLF) + CRLF;
}

function result(exitCode: number, stdout: string, stderr = ''): CommandResult {
  return { exitCode, stdout, stderr, timedOut: false };
}

/** A call the simulation does not model: loud, so a new command is never silently "succeeding". */
function unsupported(program: string, args: string[]): CommandResult {
  return result(87, '', `simulated ${program} does not handle: ${[program, ...args].join(' ')}${CRLF}`);
}

// ---------------------------------------------------------------------------- the runner

type Handler = (state: SimState, args: string[], host: SimHost | null) => CommandResult;

export class SimulatedRunner implements CommandRunner {
  readonly simulated = true;

  /**
   * @param statePath host path of the state file (target.toHost(SIMULATED_STATE_PATH))
   * @param initialState builds the state when the file does not exist yet
   * @param host the image (or this machine) whose files the ACL tools look at
   */
  constructor(
    private readonly statePath: string,
    private readonly initialState: () => SimState | Promise<SimState>,
    private readonly host: SimHost | null = null,
  ) {}

  async run(request: CommandRequest): Promise<CommandResult> {
    const program = basenameWin(request.program).toLowerCase();
    const handler = HANDLERS[program];
    if (!handler) {
      return result(
        9009,
        '',
        `'${request.program}' is not recognized as an internal or external command, operable program or batch file.${CRLF}` +
          `(The simulated system provides only sc.exe, netsh.exe, net.exe, powershell.exe, icacls.exe, schtasks.exe, eventcreate.exe and dccproc.exe.)${CRLF}`,
      );
    }
    const state = (await loadSimState(this.statePath)) ?? checkSimState(await this.initialState(), 'built by the caller');
    const before = JSON.stringify(state);
    const outcome = handler(state, request.args, this.host);
    if (JSON.stringify(state) !== before) await saveSimState(this.statePath, state);
    return outcome;
  }
}

const HANDLERS: Record<string, Handler> = {
  'sc.exe': runSc,
  'netsh.exe': runNetsh,
  'net.exe': runNet,
  'dccproc.exe': runDccproc,
  'powershell.exe': runPowershell,
  'icacls.exe': runIcacls,
  'schtasks.exe': runSchtasks,
  'eventcreate.exe': (state, args) => runEventcreate(state, args),
};

// ---------------------------------------------------------------------------- sc

function findService(state: SimState, name: string): [string, SimService] | null {
  const key = Object.keys(state.services).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? null : [key, state.services[key]!];
}

function scError(texts: Texts, api: string, code: number): CommandResult {
  return result(code, lines(`[SC] ${api} ${texts.scFailed} ${code}:`, '', texts.win32[code] ?? `Win32 error ${code}.`, ''));
}

const STATE_WORDS: Record<number, string> = { 1: 'STOPPED', 2: 'START_PENDING', 3: 'STOP_PENDING', 4: 'RUNNING' };

function scField(key: string, value: string): string {
  return `        ${key.padEnd(19)}: ${value}`.trimEnd();
}

function scStatusBlock(name: string, service: SimService, extra: string[] = []): string {
  const controls =
    service.state === STATE.running || service.state === STATE.stopPending
      ? '(STOPPABLE, NOT_PAUSABLE, ACCEPTS_SHUTDOWN)'
      : '(NOT_STOPPABLE, NOT_PAUSABLE, IGNORES_SHUTDOWN)';
  const exitCode = service.win32ExitCode ?? 0;
  return lines(
    '',
    `SERVICE_NAME: ${name}`,
    scField('TYPE', '10  WIN32_OWN_PROCESS'),
    scField('STATE', `${service.state}  ${STATE_WORDS[service.state] ?? ''}`),
    `                                ${controls}`,
    scField('WIN32_EXIT_CODE', `${exitCode}  (0x${exitCode.toString(16)})`),
    scField('SERVICE_EXIT_CODE', '0  (0x0)'),
    scField('CHECKPOINT', '0x0'),
    scField('WAIT_HINT', service.state === STATE.startPending || service.state === STATE.stopPending ? '0x7d0' : '0x0'),
    ...extra,
    '',
  );
}

/** A pending state settles the next time anyone looks, as a real service gets there while sc returns. */
function settle(service: SimService): void {
  if (service.state === STATE.stopPending && (service.stopPolls ?? 0) > 0) service.stopPolls! -= 1;
  else if (service.state === STATE.stopPending && !service.stopHangs) service.state = STATE.stopped;
  if (service.state === STATE.startPending) {
    const fails = service.startFails === true || (typeof service.startFails === 'number' && service.startFails > 0);
    service.state = fails ? STATE.stopped : STATE.running;
    if (fails) service.win32ExitCode = 1067;
    if (typeof service.startFails === 'number' && service.startFails > 0) service.startFails = service.startFails - 1 || false;
  }
}

function runSc(state: SimState, args: string[]): CommandResult {
  const texts = TEXTS[state.language];
  if (args.length !== 2) return unsupported('sc.exe', args);
  const verb = args[0]!.toLowerCase();
  if (!['qc', 'query', 'stop', 'start'].includes(verb)) return unsupported('sc.exe', args);
  const found = findService(state, args[1]!);
  const mutating = verb === 'stop' || verb === 'start';
  if (mutating && !state.elevated) return scError(texts, 'OpenService', 5);
  if (!found) return scError(texts, 'OpenService', 1060);
  const [name, service] = found;

  if (verb === 'qc') {
    return result(
      0,
      lines(
        `[SC] QueryServiceConfig ${texts.scSuccess}`,
        '',
        `SERVICE_NAME: ${name}`,
        scField('TYPE', '10  WIN32_OWN_PROCESS'),
        scField('START_TYPE', '2   AUTO_START'),
        scField('ERROR_CONTROL', '1   NORMAL'),
        scField('BINARY_PATH_NAME', service.binaryPath),
        scField('LOAD_ORDER_GROUP', ''),
        scField('TAG', '0'),
        scField('DISPLAY_NAME', service.displayName ?? name),
        scField('DEPENDENCIES', ''),
        scField('SERVICE_START_NAME', service.startName),
        '',
      ),
    );
  }
  if (verb === 'query') {
    settle(service);
    return result(0, scStatusBlock(name, service));
  }
  if (verb === 'stop') {
    if (service.state === STATE.stopped) return scError(texts, 'ControlService', 1062);
    if (service.state !== STATE.running) return scError(texts, 'ControlService', 1061);
    service.state = STATE.stopPending;
    service.win32ExitCode = 0;
    return result(0, scStatusBlock(name, service));
  }
  if (service.state !== STATE.stopped) return scError(texts, 'StartService', 1056);
  service.state = STATE.startPending;
  service.win32ExitCode = 0;
  return result(0, scStatusBlock(name, service, [scField('PID', '4242'), scField('FLAGS', '')]));
}

// ---------------------------------------------------------------------------- netsh

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

function runNetsh(state: SimState, args: string[]): CommandResult {
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
  const sayList = (list: string): string => list.split(',').map((w) => say(w.trim())).join(',');
  const [name, enabled, direction, profiles, grouping, localIp, remoteIp, protocol, localPort, remotePort, edge, action] =
    texts.ruleLabels;
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

// ---------------------------------------------------------------------------- net

function runNet(state: SimState, args: string[]): CommandResult {
  const texts = TEXTS[state.language];
  if (args.length !== 1 || args[0]!.toLowerCase() !== 'session') return unsupported('net.exe', args);
  if (state.elevated) return result(0, lines(texts.netNoEntries, ''));
  return result(2, '', lines(texts.netSystemError5, ''));
}

// ---------------------------------------------------------------------------- dccproc

/** DCC's client, as the real dccproc.exe answers the doctor (simulatedDccproc.ts). */
function runDccproc(state: SimState, args: string[]): CommandResult {
  return runSimulatedDccproc(state.dccproc ?? { mode: 'answers', brand: 'SimulatedDCC' }, args, () => unsupported('dccproc.exe', args));
}
