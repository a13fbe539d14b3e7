/**
 * The simulated answer to the `short-path` script (windows/shortPath.ts): what Windows
 * PowerShell prints for `(New-Object -ComObject Scripting.FileSystemObject).GetFolder($path).ShortPath`
 * (or GetFile): the short path and CRLF, exit 0.
 *
 * Short names are the ones NTFS generates, kept simple:
 * - a component that is already a valid 8.3 name (`sa`, `Users`, `dccproc.exe`) has no
 *   short name of its own and comes back as it is;
 * - any other gets the first six characters of its name (spaces and dots before the
 *   extension dropped, `+ , ; = [ ]` made `_`, uppercased), `~1`, and the first three
 *   characters of its extension: `Program Files` -> `PROGRA~1`, `DCC Home` -> `DCCHOM~1`;
 * - the root folders of a normal 64-bit install, which collide, get the numbers Windows
 *   gave them in the order setup created them: `Program Files (x86)` -> `PROGRA~2`,
 *   `ProgramData` -> `PROGRA~3`. Other collisions are not modelled (every other name gets `~1`).
 *
 * State knob `shortNames: false`: the volume has 8.3 names turned off
 * (`fsutil 8dot3name set C: 1` before the folders were made). ShortPath then keeps every
 * long component, so the answer is the path itself, spaces and all.
 *
 * kerio-dcc asks only about folders and files it has checked exist, so this stand-in does
 * not look at the image's files.
 */
import type { CommandResult } from '../runner.js';
import type { SimState } from './state.js';

const ROOT_COLLISIONS: Record<string, string> = { 'program files (x86)': 'PROGRA~2', programdata: 'PROGRA~3' };

const VALID_83_CHAR = /^[A-Za-z0-9!#$%&'()\-@^_`{}~]$/;

function isValid83(name: string): boolean {
  const m = /^([^.]{1,8})(?:\.([^.]{1,3}))?$/.exec(name);
  return m !== null && [...name.replace('.', '')].every((c) => VALID_83_CHAR.test(c));
}

function clean(part: string): string {
  return [...part.replace(/[ .]/g, '').toUpperCase()].map((c) => (VALID_83_CHAR.test(c) ? c : '_')).join('');
}

/** The 8.3 alias NTFS gives one path component (see the module comment for what is modelled). */
export function shortComponent(name: string, atRoot: boolean): string {
  if (isValid83(name)) return name;
  const known = atRoot ? ROOT_COLLISIONS[name.toLowerCase()] : undefined;
  if (known) return known;
  const dot = name.lastIndexOf('.');
  const hasExt = dot > 0 && dot < name.length - 1;
  const base = clean(hasExt ? name.slice(0, dot) : name);
  const ext = hasExt ? clean(name.slice(dot + 1)).slice(0, 3) : '';
  return `${base.slice(0, 6)}~1${ext ? `.${ext}` : ''}`;
}

/** The short form of an absolute path, as ShortPath gives it (long components kept when short names are off). */
export function simulatedShortPath(path: string, shortNames: boolean): string {
  const [drive, ...parts] = path
    .replace(/\//g, '\\')
    .split('\\')
    .filter((p, i) => i === 0 || p !== '');
  const letter = drive!.toUpperCase();
  if (!shortNames) return [letter, ...parts].join('\\');
  return [letter, ...parts.map((p, i) => shortComponent(p, i === 0))].join('\\');
}

export function runShortPath(state: SimState, params: Record<string, string>): CommandResult {
  const path = params['path'] ?? '';
  const method = params['type'] === 'file' ? 'GetFile' : 'GetFolder';
  if (!/^[A-Za-z]:\\/.test(path)) {
    return { exitCode: 1, stdout: '', stderr: `Exception calling "${method}" with "1" argument(s): "Path not found"\r\n`, timedOut: false };
  }
  return { exitCode: 0, stdout: `${simulatedShortPath(path, state.shortNames !== false)}\r\n`, stderr: '', timedOut: false };
}
