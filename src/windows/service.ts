import { ExitCode, KerioDccError } from '../errors.js';
import type { CommandRequest, CommandResult, CommandRunner } from '../system/runner.js';
import { normalizeWin, type Target, type WinPath } from '../target/target.js';
import { describeFailure, systemTool } from './tools.js';

/** The numeric states `sc query` prints after `STATE :` (SERVICE_STOPPED ... SERVICE_PAUSED). */
export const ServiceState = {
  stopped: 1,
  startPending: 2,
  stopPending: 3,
  running: 4,
  continuePending: 5,
  pausePending: 6,
  paused: 7,
} as const;

const STATE_NAMES: Record<number, string> = {
  1: 'STOPPED',
  2: 'START_PENDING',
  3: 'STOP_PENDING',
  4: 'RUNNING',
  5: 'CONTINUE_PENDING',
  6: 'PAUSE_PENDING',
  7: 'PAUSED',
};

/** `STOP_PENDING (3)`: the name administrators know, with the number we actually read. */
export function stateName(n: number): string {
  return `${STATE_NAMES[n] ?? 'UNKNOWN_STATE'} (${n})`;
}

/** Win32 errors that `sc` returns as its exit code. */
export const ScError = {
  accessDenied: 5,
  alreadyRunning: 1056,
  noSuchService: 1060,
  cannotAcceptControl: 1061,
  notStarted: 1062,
} as const;

/** sc failed or the service got stuck. Before any change that is exit 3; during a run, apply restores (4/5). */
export class ServiceError extends KerioDccError {
  constructor(
    readonly service: string,
    message: string,
    /** sc's exit code when a command failed, else null. */
    readonly scExitCode: number | null,
    /** The last state seen, when the service got stuck, else null. */
    readonly state: number | null,
    hint?: string,
  ) {
    super(ExitCode.precondition, message, hint);
    this.name = 'ServiceError';
  }
}

const ELEVATION_HINT = 'Controlling services needs an elevated prompt: run kerio-dcc as administrator.';

function sc(target: Target, verb: 'qc' | 'query' | 'stop' | 'start', name: string): CommandRequest {
  return { program: systemTool(target, 'sc.exe'), args: [verb, name], mutates: verb === 'stop' || verb === 'start' };
}

function failure(name: string, request: CommandRequest, result: CommandResult): ServiceError {
  if (result.exitCode === ScError.noSuchService && !result.timedOut) {
    return new ServiceError(
      name,
      `There is no Windows service named "${name}" (sc error 1060).`,
      result.exitCode,
      null,
      'Check the service name in the answers file; Kerio Connect installs the service "KerioMailServer".',
    );
  }
  const hint = result.exitCode === ScError.accessDenied ? ELEVATION_HINT : undefined;
  return new ServiceError(name, describeFailure(request, result), result.timedOut ? null : result.exitCode, null, hint);
}

/** `KEY : value` lines of sc's output. The keys are not localized; the values after them are data. */
function scField(stdout: string, key: string): string | null {
  const match = new RegExp(`^\\s*${key}\\s*:(.*)$`, 'm').exec(stdout);
  return match ? match[1]!.trim() : null;
}

export interface ServiceConfig {
  name: string;
  /** The executable, unquoted and without arguments. */
  binaryPath: WinPath | null;
  startName: string | null;
}

/**
 * The executable part of a service command line: quoted (`"C:\a b\x.exe" -x`) or, as old
 * installers left it, unquoted with spaces (`C:\a b\x.exe -x`), cut after `.exe`.
 */
export function executableOfCommandLine(commandLine: string): WinPath | null {
  const text = commandLine.trim();
  if (text === '') return null;
  if (text.startsWith('"')) {
    const end = text.indexOf('"', 1);
    return end > 1 ? normalizeWin(text.slice(1, end)) : null;
  }
  const exe = /^(.*?\.exe)(?=\s|$)/i.exec(text);
  return normalizeWin(exe ? exe[1]! : text.split(/\s+/)[0]!);
}

/** The service's configuration, or null when no such service is installed (sc exit 1060). */
export async function queryServiceConfig(runner: CommandRunner, target: Target, name: string): Promise<ServiceConfig | null> {
  const request = sc(target, 'qc', name);
  const result = await runner.run(request);
  if (result.exitCode === ScError.noSuchService && !result.timedOut) return null;
  if (result.exitCode !== 0 || result.timedOut) throw failure(name, request, result);
  const binary = scField(result.stdout, 'BINARY_PATH_NAME');
  const startName = scField(result.stdout, 'SERVICE_START_NAME');
  return {
    name,
    binaryPath: binary === null ? null : executableOfCommandLine(binary),
    startName: startName === null || startName === '' ? null : startName,
  };
}

export interface ServiceStatus {
  state: number;
  /** WIN32_EXIT_CODE: why a service stopped (e.g. 1067 = the process ended unexpectedly); null if not printed. */
  win32ExitCode: number | null;
}

export async function queryServiceStatus(runner: CommandRunner, target: Target, name: string): Promise<ServiceStatus> {
  const request = sc(target, 'query', name);
  const result = await runner.run(request);
  if (result.exitCode !== 0 || result.timedOut) throw failure(name, request, result);
  const state = /^\s*STATE\s*:\s*(\d+)/m.exec(result.stdout);
  if (!state) {
    throw new ServiceError(name, `sc.exe query ${name} printed no numeric STATE:\n${result.stdout.trim()}`, null, null);
  }
  const exitCode = /^\s*WIN32_EXIT_CODE\s*:\s*(\d+)/m.exec(result.stdout);
  return { state: Number(state[1]), win32ExitCode: exitCode ? Number(exitCode[1]) : null };
}

/** The number after STATE (never the word after it, which we do not trust to stay English). */
export async function queryServiceState(runner: CommandRunner, target: Target, name: string): Promise<number> {
  return (await queryServiceStatus(runner, target, name)).state;
}

export interface RestartOptions {
  /** Limit for each phase (stopping, then starting), in milliseconds. */
  timeoutMs: number;
  pollMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  onProgress?: (elapsedSeconds: number, state: number) => void;
  /** Asked at every poll: true ends the wait at once (Ctrl-C), so a restore need not wait out the timeout. */
  shouldStop?: () => boolean;
}

const DEFAULT_POLL_MS = 1000;

function realSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Stops and starts a service the way `sc` allows: `sc stop`/`sc start` only ask, so the
 * state is polled until it arrives, each phase bounded by `timeoutMs`.
 */
export async function restartService(runner: CommandRunner, target: Target, name: string, options: RestartOptions): Promise<void> {
  const stop = sc(target, 'stop', name);
  const stopResult = await runner.run(stop);
  const stopAccepted = [0, ScError.notStarted, ScError.cannotAcceptControl] as number[];
  if (stopResult.timedOut || !stopAccepted.includes(stopResult.exitCode)) throw failure(name, stop, stopResult);
  await waitForState(runner, target, name, ServiceState.stopped, 'stop', options);

  const start = sc(target, 'start', name);
  const startResult = await runner.run(start);
  if (startResult.timedOut || ![0, ScError.alreadyRunning].includes(startResult.exitCode)) {
    const error = failure(name, start, startResult);
    throw new ServiceError(
      name,
      `The service "${name}" was stopped but did not start again: sc.exe start failed with exit code ${startResult.exitCode}.\n${error.message}`,
      error.scExitCode,
      ServiceState.stopped,
      error.hint ?? `Start it by hand (sc.exe start ${name}) and read the Windows event log for the reason.`,
    );
  }
  await waitForState(runner, target, name, ServiceState.running, 'start', options);
}

async function waitForState(
  runner: CommandRunner,
  target: Target,
  name: string,
  wanted: number,
  phase: 'stop' | 'start',
  options: RestartOptions,
): Promise<void> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? realSleep;
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  const started = now();
  for (;;) {
    const status = await queryServiceStatus(runner, target, name);
    if (status.state === wanted) return;
    // A stop asked while the service was still starting is refused (1061); once it runs, ask again.
    if (phase === 'stop' && status.state === ServiceState.running) await runner.run(sc(target, 'stop', name));
    if (phase === 'start' && status.state === ServiceState.stopped) {
      const why = status.win32ExitCode ? ` (WIN32_EXIT_CODE ${status.win32ExitCode})` : '';
      throw new ServiceError(
        name,
        `The service "${name}" stopped again while starting${why}: it is ${stateName(status.state)}.`,
        null,
        status.state,
        `Read the Windows event log and Kerio's error.log for the reason, then start it with sc.exe start ${name}.`,
      );
    }
    const elapsedMs = now() - started;
    if (options.shouldStop?.()) {
      throw new ServiceError(
        name,
        `Stopped waiting for the service "${name}" to ${phase} (interrupted); it is ${stateName(status.state)}.`,
        null,
        status.state,
        `Check it with sc.exe query ${name}.`,
      );
    }
    if (elapsedMs >= options.timeoutMs) {
      const seconds = Math.round(elapsedMs / 1000);
      throw new ServiceError(
        name,
        `The service "${name}" is still ${stateName(status.state)} after ${seconds} s; it did not ${phase} within the ${Math.round(options.timeoutMs / 1000)} s allowed.`,
        null,
        status.state,
        `Check the service with sc.exe query ${name} or services.msc; if it is only slow, allow it more time and run again.`,
      );
    }
    options.onProgress?.(Math.floor(elapsedMs / 1000), status.state);
    await sleep(pollMs);
  }
}
