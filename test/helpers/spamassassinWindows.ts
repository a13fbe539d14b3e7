/**
 * What dccproc receives as argv when SpamAssassin on Windows starts it, reproduced from the
 * real code:
 *
 * 1. Debian's SpamAssassin (4.0.1) runs its own `Plugin/DCC.pm` `ask_dcc` and
 *    `Util.pm` `helper_app_pipe_open` / `helper_app_pipe_open_windows`, believing it runs
 *    on Windows (sa-windows-dccproc.pl): that gives the exact string it opens as a pipe,
 *    e.g. `"C:\sa\dccproc.exe" -C -x 0 -h C:\sa\etc\dcc -a 192.0.2.1 -w whiteclnt < "C:\...\tmp" 2>&1|`.
 * 2. Perl's pipe open on Windows hands a command with redirections to `cmd.exe /x/d/c`;
 *    cmd.exe carries out `< "file"` and `2>&1` and starts the program with the rest of the
 *    line. Modelled here: the two redirections are taken off, and a line holding anything
 *    else cmd.exe would interpret (`%`, `^`, `&`, `|`, `<`, `>`, `!`) outside quotes is
 *    refused rather than guessed at.
 * 3. dccproc's C runtime splits that line into argv (windowsArgv.ts).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { windowsArgv } from './windowsArgv.js';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'sa-windows-dccproc.pl');
const SA_MODULE = '/usr/share/perl5/Mail/SpamAssassin.pm';

/** The installed SpamAssassin's version (e.g. "4.0.1"), or null when it is not installed. */
export function installedSpamAssassinVersion(): string | null {
  if (!existsSync(SA_MODULE) || !existsSync('/usr/share/perl5/Mail/SpamAssassin/Plugin/DCC.pm')) return null;
  // Written like Perl's $]: "4.000001" is 4.0.1.
  const m = /^our \$VERSION = "(\d+)\.(\d{3})(\d{3})";/m.exec(readFileSync(SA_MODULE, 'latin1'));
  return m ? `${Number(m[1])}.${Number(m[2])}.${Number(m[3])}` : null;
}

export interface DccSettingsCase {
  dcc_home: string;
  dcc_path: string;
  /** An X-DCC header already in the message: SpamAssassin then passes -Q (query, never report). */
  upstream_x_dcc?: string;
}

/** The strings SpamAssassin's own code opens as a pipe for each case (the trailing `|` included). */
export function spamAssassinPipeOpens(cases: DccSettingsCase[]): string[] {
  const out = execFileSync('perl', [SCRIPT], { input: JSON.stringify(cases), encoding: 'utf8' });
  return JSON.parse(out) as string[];
}

const REDIRECTIONS = / < "[^"]*" 2>&1\|$/;

/** The command line cmd.exe starts dccproc with, from the string Perl opened. */
export function commandLineFromCmdExe(opened: string): string {
  if (!REDIRECTIONS.test(opened)) throw new Error(`not the shape helper_app_pipe_open_windows builds: ${opened}`);
  const line = opened.replace(REDIRECTIONS, '');
  const outsideQuotes = line.replace(/"[^"]*"/g, '');
  const special = /[%^&|<>!]/.exec(outsideQuotes);
  if (special) throw new Error(`cmd.exe would interpret "${special[0]}" in: ${line}`);
  return line;
}

/** dccproc's argv for each case, as SpamAssassin on Windows starts it. */
export function dccprocArgvOnWindows(cases: DccSettingsCase[]): string[][] {
  return spamAssassinPipeOpens(cases).map((opened) => windowsArgv(commandLineFromCmdExe(opened)));
}
