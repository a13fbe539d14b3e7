/**
 * The simulated `sc.exe`: `qc`, `query`, `stop` and `start` of one service, with sc's exit
 * codes (the Win32 error).
 *
 * Like the real tools, `sc stop`/`sc start` only ask: stop leaves the service STOP_PENDING
 * and the next `sc query` finds it STOPPED; start leaves it START_PENDING and the next
 * query finds it RUNNING (or STOPPED when startFails).
 */
import { lines, result, unsupported } from './output.js';
import { TEXTS, type Texts } from './recordings.js';
import { STATE, type SimService, type SimState } from './state.js';
import type { CommandResult } from '../runner.js';

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

export function runSc(state: SimState, args: string[]): CommandResult {
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
