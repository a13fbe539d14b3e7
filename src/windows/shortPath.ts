/**
 * Paths that SpamAssassin on Windows hands to dccproc, and their 8.3 short names.
 *
 * SpamAssassin on Windows (4.0.1, `Util::helper_app_pipe_open_windows`) starts dccproc with
 * ONE command string: it wraps only the program path in double quotes, joins every other
 * argument with single spaces and runs the string through cmd.exe (it ends with
 * `< "tmpfile" 2>&1`). So `-h <dcc_home>` reaches dccproc intact only when dcc_home holds
 * nothing that the C runtime splits on (space, tab) and nothing that cmd.exe interprets
 * (`%VAR%`, `^`, `&`, `|`, `<`, `>`, quotes, `!`). Older releases may not quote the program
 * path either, and the DCC plugin runs `cdcc` from dcc_path's folder unquoted, so dcc_path
 * follows the same rule.
 *
 * Such a path is written as its 8.3 short name (`C:\PROGRA~1\DCC`), which the server
 * itself reports: Windows PowerShell 5.1 (on every Windows from 8.1 / 2012 R2) asks the
 * Scripting.FileSystemObject for the folder's or file's ShortPath. Where a component has no
 * short name (8.3 names turned off for the volume, `fsutil 8dot3name query C:`), ShortPath
 * keeps the long component, so the answer still has the space: the caller must refuse.
 */
import type { CommandRunner } from '../system/runner.js';
import type { Target, WinPath } from '../target/target.js';
import { powershellRequest } from './powershell.js';

/** The script kind the simulation answers (system/simulated/shortName.ts). */
export const SHORT_PATH_KIND = 'short-path';

export type ShortPathType = 'folder' | 'file';

// What the C runtime splits an argument on (whitespace), what cmd.exe interprets on a
// command line (`%VAR%`, `^`, `&`, `|`, `<`, `>`, quotes, `!` with delayed expansion), and
// the separators `+ , ; =` that cmd.exe lists among the characters needing quotes (8.3
// names never hold them: Windows replaces them with `_`). `~` is special only in `%~` of a
// batch parameter, which never occurs here (and every short name has one); `(` `)` are
// literal outside a parenthesised block.
const HAZARD = /[ \t\n\r\f\v%^&|<>"!+,;=]/;

const NAMED: Record<string, string> = { ' ': 'a space', '\t': 'a tab', '"': 'a double quote' };

/**
 * What in a path the Windows command line would split or cmd.exe would interpret, in words
 * (e.g. `a space`), or null when the path reaches dccproc intact as one argument.
 */
export function commandLineHazard(path: string): string | null {
  const bad = HAZARD.exec(path)?.[0];
  if (bad === undefined) return null;
  return NAMED[bad] ?? (/[^ -~]/.test(bad) ? `a control character (\\x${bad.charCodeAt(0).toString(16).padStart(2, '0')})` : `a "${bad}"`);
}

/** The PowerShell call that prints the 8.3 short form of an existing folder or file, then CRLF. */
export function shortPathRequest(target: Target, path: WinPath, type: ShortPathType) {
  return powershellRequest(
    target,
    {
      kind: SHORT_PATH_KIND,
      params: { path, type },
      body: [
        '$fso = New-Object -ComObject Scripting.FileSystemObject',
        "if ($type -eq 'folder') { $fso.GetFolder($path).ShortPath } else { $fso.GetFile($path).ShortPath }",
      ].join('\n'),
    },
    { mutates: false, timeoutMs: 60_000 },
  );
}

export type ShortPathAnswer = { ok: true; shortPath: WinPath } | { ok: false; error: string };

/** Asks the server (live or simulated) for the short form of a path it has. */
export async function readShortPath(runner: CommandRunner, target: Target, path: WinPath, type: ShortPathType): Promise<ShortPathAnswer> {
  const result = await runner.run(shortPathRequest(target, path, type));
  const lines = result.stdout.split(/\r?\n/).filter((l) => l.trim() !== '');
  const answer = lines.length === 1 ? lines[0]!.trim() : null;
  if (result.exitCode === 0 && !result.timedOut && answer !== null && /^[A-Za-z]:\\/.test(answer)) return { ok: true, shortPath: answer };
  const said = (result.stderr || result.stdout).trim().split(/\r?\n/)[0]?.slice(0, 300);
  const why = result.timedOut ? 'PowerShell did not answer in time' : `PowerShell exit ${result.exitCode}${said ? `: ${said}` : ''}`;
  return { ok: false, error: why };
}
