/**
 * kerio-dcc's events in the Windows Application log, source `kerio-dcc`, written with
 * `eventcreate.exe`.
 *
 * Why eventcreate and not PowerShell's Write-EventLog: it is in System32 on every Windows
 * since XP and Server 2003 (Server Core included), starts in milliseconds where PowerShell
 * takes most of a second, and registers the source itself the first time it writes one
 * (under HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\kerio-dcc, with
 * eventcreate.exe as the message file, so Event Viewer shows the text and not "the
 * description for Event ID ... cannot be found"). Write-EventLog needs New-EventLog first
 * and is gone from PowerShell 7. eventcreate's limits: event IDs 1 to 1000, and only a source
 * it registered itself (kerio-dcc's is). Its words are localized; only its exit code decides.
 *
 * The IDs are a contract with monitoring systems: README lists them.
 */
import type { Target, WinPath } from '../target/target.js';
import { joinWin } from '../target/target.js';
import type { CommandRequest, CommandRunner } from '../system/runner.js';

export const EVENT_SOURCE = 'kerio-dcc';
export const EVENT_LOG = 'APPLICATION';

export type EventType = 'INFORMATION' | 'WARNING' | 'ERROR';

export const EVENTS = {
  /** The periodic check found DCC fully on (information; at most once a day). */
  allOn: { id: 100, type: 'INFORMATION' },
  /** kerio-dcc watch registered or changed the scheduled task (information; also registers the source). */
  watchRegistered: { id: 110, type: 'INFORMATION' },
  /** DCC was found off (drifted) and was repaired (warning). */
  repaired: { id: 200, type: 'WARNING' },
  /** The repair failed, or DCC is off in a way install cannot put right (error). */
  repairFailed: { id: 300, type: 'ERROR' },
  /** DCC is off and the repair needs a Kerio restart that [watch] restart did not allow now (error). */
  restartNotAllowed: { id: 301, type: 'ERROR' },
  /** The repair could not start: its answers file in the state folder is missing or broken (error). */
  answersBroken: { id: 302, type: 'ERROR' },
} as const satisfies Record<string, { id: number; type: EventType }>;

export type EventName = keyof typeof EVENTS;

/** eventcreate's /D is one command-line argument; a long one is cut (the run log has it whole). */
const MAX_DESCRIPTION = 2000;

export function eventcreatePath(target: Target): WinPath {
  const folder = !target.isImage && target.wow64Process ? 'Sysnative' : 'System32';
  return joinWin(target.systemRoot, folder, 'eventcreate.exe');
}

export function eventRequest(target: Target, name: EventName, description: string): CommandRequest {
  const { id, type } = EVENTS[name];
  const text = description.length > MAX_DESCRIPTION ? `${description.slice(0, MAX_DESCRIPTION - 3)}...` : description;
  return { program: eventcreatePath(target), args: ['/L', EVENT_LOG, '/T', type, '/SO', EVENT_SOURCE, '/ID', String(id), '/D', text], mutates: true };
}

/**
 * Writes one event. Never fails the run: a monitoring signal that cannot be sent is reported
 * (returned as a sentence), and the run log still has the line.
 */
export async function writeEvent(runner: CommandRunner, target: Target, name: EventName, description: string): Promise<string | null> {
  try {
    const result = await runner.run(eventRequest(target, name, description));
    if (result.exitCode === 0 && !result.timedOut) return null;
    const out = [result.stdout.trim(), result.stderr.trim()].filter(Boolean).join(' ');
    return `the ${EVENTS[name].type.toLowerCase()} event ${EVENTS[name].id} could not be written to the Application log (eventcreate exit code ${result.exitCode}${out ? `: ${out}` : ''})`;
  } catch (err) {
    return `the event ${EVENTS[name].id} could not be written to the Application log (${(err as Error).message})`;
  }
}
