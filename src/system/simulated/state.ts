/**
 * The simulated system's state (simulated.ts runs the tools against it).
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
 *   "codePage": 852,               // optional: the OEM code page the console tools print in (default: 437 for
 *                                  // "en", 850 for "de"); the runner decodes it as on a real server (system/codePage.ts)
 *   "netSecurity": false,          // optional: PowerShell's firewall cmdlets fail, rules are read with netsh (simulated/firewall.ts)
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
 */
import type { SimTask } from './schtasks.js';
import type { SimEvent } from './eventcreate.js';
import { access, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from '../../errors.js';
import { atomicWrite } from '../../fs/atomicWrite.js';
import { joinWin, type Target, type WinPath } from '../../target/target.js';
import { knownCodePage } from '../codePage.js';
import { SIM_DCCPROC_MODES, type SimDccproc } from '../simulatedDccproc.js';

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
  /** The OEM code page the console tools print in; absent: the language's usual one (`simCodePage`). */
  codePage?: number;
  /** false: PowerShell's NetSecurity cmdlets fail (simulated/firewall.ts); absent: they work. */
  netSecurity?: boolean;
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
  /**
   * True when the simulation keeps its state outside the machine it answers for (the Wine
   * stand-ins): then the state folder kerio-dcc creates starts empty. Absent: the state
   * file lives in that folder (SIMULATED_STATE_PATH) and is put there as the folder is made.
   */
  stateElsewhere?: boolean;
}

/** The OEM code page of a US (437) or German (850) Windows, unless the state names one. */
export function simCodePage(state: SimState): number {
  return state.codePage ?? (state.language === 'de' ? 850 : 437);
}

export const STATE = { stopped: 1, startPending: 2, stopPending: 3, running: 4 } as const;
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

export function checkSimState(json: unknown, where: string): SimState {
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
      const field = (key: keyof SimFirewallRule, fallback: string): string => (typeof raw[key] === 'string' ? (raw[key] as string) : fallback);
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
    if (!isObject(d) || !SIM_DCCPROC_MODES.includes(d.mode as SimDccproc['mode']))
      problems.push(`dccproc.mode must be one of ${SIM_DCCPROC_MODES.map((m) => `"${m}"`).join(', ')}`);
    else
      dccproc = {
        mode: d.mode as SimDccproc['mode'],
        brand: typeof d.brand === 'string' ? d.brand : 'SimulatedDCC',
        ...(typeof d.serverId === 'number' ? { serverId: d.serverId } : {}),
      };
  }
  if (json.shortNames !== undefined && typeof json.shortNames !== 'boolean') problems.push('shortNames must be true or false');
  if (json.netSecurity !== undefined && typeof json.netSecurity !== 'boolean') problems.push('netSecurity must be true or false');
  if (json.codePage !== undefined && !(typeof json.codePage === 'number' && knownCodePage(json.codePage)))
    problems.push('codePage must be the number of an OEM code page, e.g. 437, 850, 852 or 866');
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
  return {
    schema: 1,
    elevated: json.elevated as boolean,
    services,
    firewall,
    language: language as SimLanguage,
    ...(dccproc ? { dccproc } : {}),
    ...(json.shortNames === false ? { shortNames: false } : {}),
    ...(typeof json.codePage === 'number' ? { codePage: json.codePage } : {}),
    ...(json.netSecurity === false ? { netSecurity: false } : {}),
    ...(acls ? { acls } : {}),
    ...(isObject(json.tasks) ? { tasks: json.tasks as Record<string, SimTask> } : {}),
    ...(Array.isArray(json.events) ? { events: json.events as SimEvent[] } : {}),
  };
}

/** Written atomically (temp file in the same folder, then rename), so a reader never sees half a file. */
export async function saveSimState(hostPath: string, state: SimState): Promise<void> {
  await mkdir(path.dirname(hostPath), { recursive: true });
  await atomicWrite(hostPath, Buffer.from(JSON.stringify(state, null, 2) + '\n', 'utf8'));
}
