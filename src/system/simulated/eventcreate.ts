/**
 * The simulated `eventcreate.exe`: writes an event into the state's `events` list and prints
 * what the real tool prints (recorded from real runs: a blank line, then
 * `SUCCESS: An event of type 'WARNING' was created in the 'APPLICATION' log with 'BlaBla' as
 * the source.`, the type and log echoed as they were given; exit 0). Only the form kerio-dcc
 * uses (/L /T /SO /ID /D) is answered; anything else is refused loudly. Tests read the events
 * back from the state file.
 */
import type { CommandResult } from '../runner.js';

const CRLF = '\r\n';

export interface SimEvent {
  log: string;
  type: string;
  source: string;
  id: number;
  description: string;
}

function unsupported(args: string[]): CommandResult {
  return { exitCode: 87, stdout: '', stderr: `simulated eventcreate.exe does not handle: eventcreate.exe ${args.join(' ')}${CRLF}`, timedOut: false };
}

/** The part of the simulated state this tool reads and writes (simulated.ts SimState has it). */
interface EventState {
  elevated: boolean;
  events?: SimEvent[];
}

export function runEventcreate(state: EventState, args: string[]): CommandResult {
  if (args.length !== 10) return unsupported(args);
  const opts = new Map<string, string>();
  for (let i = 0; i < args.length; i += 2) opts.set(args[i]!.toUpperCase(), args[i + 1]!);
  const [log, type, source, id, description] = ['/L', '/T', '/SO', '/ID', '/D'].map((k) => opts.get(k));
  if (log === undefined || type === undefined || source === undefined || id === undefined || description === undefined) return unsupported(args);
  if (!/^(information|warning|error)$/i.test(type) || !/^\d+$/.test(id) || Number(id) < 1 || Number(id) > 1000) return unsupported(args);
  // Registering a new source needs an administrator; the simulation does not model the refusal.
  if (!state.elevated && !(state.events ?? []).some((e) => e.source.toLowerCase() === source.toLowerCase())) return unsupported(args);
  (state.events ??= []).push({ log, type: type.toUpperCase(), source, id: Number(id), description });
  return {
    exitCode: 0,
    stdout: `${CRLF}SUCCESS: An event of type '${type}' was created in the '${log}' log with '${source}' as the source.${CRLF}`,
    stderr: '',
    timedOut: false,
  };
}
