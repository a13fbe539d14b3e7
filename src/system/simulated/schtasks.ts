/**
 * The simulated `schtasks.exe`: /Create /XML, /Query /XML and /Delete of one task, with the
 * exit codes and English lines real Windows prints (recorded from real runs, e.g.
 * `SUCCESS: The scheduled task "\VerticalLive\vl-autostart" has successfully been created.`,
 * `SUCCESS: The scheduled task "ImpromptuGoldenProbe" was successfully deleted.`,
 * `ERROR: The system cannot find the file specified.` with exit 1 for a task that does not
 * exist, `ERROR: Access is denied.` with exit 1 when not elevated). The registered tasks are
 * kept in the state's `tasks`, keyed by lower-cased name (Task Scheduler's names are not
 * case-sensitive). /Query /XML prints the definition as it was registered; real Windows
 * prints it re-serialized by Task Scheduler, which is why kerio-dcc compares a task's
 * fields (windows/scheduledTask.ts taskFingerprint), never its bytes. Anything else is
 * refused loudly.
 */
import { readFileSync } from 'node:fs';
import type { CommandResult } from '../runner.js';
import { taskFileText } from '../../windows/scheduledTask.js';

const CRLF = '\r\n';

/** The part of the simulated state this tool reads and writes (simulated.ts SimState has it). */
interface TaskState {
  elevated: boolean;
  tasks?: Record<string, SimTask>;
}

export interface SimTask {
  name: string;
  /** The definition as registered (text). */
  xml: string;
}

function result(exitCode: number, stdout: string, stderr = ''): CommandResult {
  return { exitCode, stdout, stderr, timedOut: false };
}

const NOT_FOUND = result(1, '', `ERROR: The system cannot find the file specified.${CRLF}`);
const ACCESS_DENIED = result(1, '', `ERROR: Access is denied.${CRLF}`);

function unsupported(args: string[]): CommandResult {
  return result(87, '', `simulated schtasks.exe does not handle: schtasks.exe ${args.join(' ')}${CRLF}`);
}

/** `/Switch value` pairs and bare switches, switch names case-insensitive. */
function switches(args: string[]): Map<string, string | true> | null {
  const out = new Map<string, string | true>();
  for (let i = 1; i < args.length; i++) {
    const name = args[i]!.toLowerCase();
    if (!name.startsWith('/')) return null;
    const next = args[i + 1];
    // /F takes no value; /XML takes one with /Create (the file) and none with /Query.
    if (name === '/f' || (name === '/xml' && (next === undefined || next.startsWith('/')))) out.set(name, true);
    else if (next !== undefined) out.set(name, args[++i]!);
    else return null;
  }
  return out;
}

export function runSchtasks(state: TaskState, args: string[], host: { toHost(p: string): string } | null): CommandResult {
  const verb = args[0]?.toLowerCase();
  const opts = switches(args);
  const name = opts?.get('/tn');
  if (!opts || typeof name !== 'string') return unsupported(args);
  const key = name.toLowerCase();
  // Read without adding the field: a query must not change (and so write) the state.
  const tasks = state.tasks ?? {};
  if (verb === '/query' && opts.get('/xml') === true && opts.size === 2) {
    const task = tasks[key];
    return task ? result(0, `${task.xml.replace(/\r?\n/g, CRLF).replace(/(\r\n)?$/, CRLF)}`) : NOT_FOUND;
  }
  if (verb === '/create' && opts.get('/f') === true && typeof opts.get('/xml') === 'string' && opts.size === 3) {
    if (!state.elevated) return ACCESS_DENIED;
    if (!host) return unsupported(args);
    let bytes: Buffer;
    try {
      bytes = readFileSync(host.toHost(opts.get('/xml') as string));
    } catch {
      return NOT_FOUND;
    }
    const xml = taskFileText(bytes);
    if (!/<Task[\s>]/.test(xml)) return result(87, '', `simulated schtasks.exe: ${opts.get('/xml')} is not a task definition${CRLF}`);
    state.tasks = { ...tasks, [key]: { name, xml } };
    return result(0, `SUCCESS: The scheduled task "${name}" has successfully been created.${CRLF}`);
  }
  if (verb === '/delete' && opts.get('/f') === true && opts.size === 2) {
    if (!state.elevated) return ACCESS_DENIED;
    if (!tasks[key]) return NOT_FOUND;
    const { [key]: _gone, ...rest } = tasks;
    state.tasks = rest;
    return result(0, `SUCCESS: The scheduled task "${name}" was successfully deleted.${CRLF}`);
  }
  return unsupported(args);
}
