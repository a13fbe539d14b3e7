/**
 * Reading and setting who may write a folder, through PowerShell (Get-Acl, Set-Acl, a folder
 * created with its ACL) and icacls. What an ACL means is decided in sddl.ts.
 */
import type { Target, WinPath } from '../target/target.js';
import type { CommandRequest, CommandResult, CommandRunner } from '../system/runner.js';
import { kindOf } from '../fs/files.js';
import { powershellRequest } from './powershell.js';
import { joinWin } from '../target/target.js';
import { ADMINISTRATORS } from './sddl.js';

export * from './sddl.js';

/** `|` cannot appear in a Windows path, so it separates the paths of one call. */
const PATH_SEPARATOR = '|';

/**
 * One PowerShell call that prints `path|sddl` for each path (owner and DACL, SIDs only).
 * A path that cannot be read stops the script (exit 1, PowerShell's error on stderr).
 */
export function readAclsRequest(target: Target, paths: WinPath[]): CommandRequest {
  return powershellRequest(
    target,
    {
      kind: 'get-acl',
      params: { paths: paths.join(PATH_SEPARATOR) },
      body: "foreach ($p in ($paths -split '\\|')) { '{0}|{1}' -f $p, (Get-Acl -LiteralPath $p).Sddl }",
    },
    { mutates: false },
  );
}

/** `path|sddl` lines back into a map keyed by the lower-cased path; null for output not in that form. */
export function parseReadAcls(stdout: string, paths: WinPath[]): Map<string, string> | null {
  const found = new Map<string, string>();
  for (const line of stdout.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const at = line.lastIndexOf(PATH_SEPARATOR);
    if (at < 0) return null;
    found.set(line.slice(0, at).toLowerCase(), line.slice(at + 1).trim());
  }
  return paths.every((p) => found.has(p.toLowerCase())) ? found : null;
}

/** Replaces a folder's owner and DACL with an SDDL (Set-Acl), and prints what it has afterwards. */
export function setAclRequest(target: Target, path: WinPath, sddl: string): CommandRequest {
  return powershellRequest(
    target,
    {
      kind: 'set-acl',
      params: { path, sddl },
      body: [
        '$acl = Get-Acl -LiteralPath $path',
        '$acl.SetSecurityDescriptorSddlForm($sddl)',
        'Set-Acl -LiteralPath $path -AclObject $acl',
        '(Get-Acl -LiteralPath $path).Sddl',
      ].join('\n'),
    },
    { mutates: true },
  );
}

/**
 * Creates a folder with its owner and DACL in one step (.NET's
 * Directory.CreateDirectory(path, DirectorySecurity) passes them to CreateDirectory), so
 * it never exists with its parent's permissions, not even for a moment; prints its SDDL.
 * A folder that exists already is an error: CreateDirectory would return it unchanged.
 */
export function newFolderRequest(target: Target, path: WinPath, sddl: string): CommandRequest {
  return powershellRequest(
    target,
    {
      kind: 'new-folder',
      params: { path, sddl },
      body: [
        "if (Test-Path -LiteralPath $path) { throw ('{0} already exists' -f $path) }",
        '$security = New-Object System.Security.AccessControl.DirectorySecurity',
        '$security.SetSecurityDescriptorSddlForm($sddl)',
        '[void][System.IO.Directory]::CreateDirectory($path, $security)',
        '(Get-Acl -LiteralPath $path).Sddl',
      ].join('\n'),
    },
    { mutates: true },
  );
}

/** Creates a folder with this owner and DACL in one step; one that exists already (made meanwhile) is left as it is, like mkdir's EEXIST. */
export async function createFolderWithAcl(runner: CommandRunner, target: Target, path: WinPath, sddl: string): Promise<void> {
  const result = await runner.run(newFolderRequest(target, path, sddl));
  if (result.exitCode === 0 || (await kindOf(target.toHost(path))) === 'dir') return;
  throw new Error(
    `could not create ${path} restricted to Administrators and SYSTEM: ${describeScriptFailure('PowerShell (CreateDirectory with an ACL)', result)}`,
  );
}

/** How one of these PowerShell scripts failed, for a message: its kind and what it printed (the command line is one long base64 word). */
export function describeScriptFailure(what: string, result: CommandResult): string {
  const output = [result.stdout.trim(), result.stderr.trim()]
    .filter(Boolean)
    .join(' ')
    .replace(/\s*\r?\n\s*/g, ' ');
  return `${what} ${result.timedOut ? 'timed out' : `exited with code ${result.exitCode}`}${output ? `: ${output}` : ' and printed nothing'}`;
}

export function icaclsPath(target: Target): WinPath {
  return joinWin(target.systemRoot, !target.isImage && target.wow64Process ? 'Sysnative' : 'System32', 'icacls.exe');
}

/**
 * icacls on everything inside a folder (`DIR\*`, recursively, links themselves and never
 * their targets): Administrators become the owner, or each item's ACL is reset to inherit
 * the folder's. SIDs with `*`, never names.
 */
export function icaclsInsideRequest(target: Target, folder: WinPath, what: 'setowner' | 'reset'): CommandRequest {
  const op = what === 'setowner' ? ['/setowner', `*${ADMINISTRATORS}`] : ['/reset'];
  return { program: icaclsPath(target), args: [`${folder}\\*`, ...op, '/T', '/C', '/L', '/Q'], mutates: true };
}

/** The numbers of icacls's last line ("Successfully processed N files; Failed processing M files"), read by position: the words are translated. */
export function icaclsCounts(stdout: string): { processed: number; failed: number } | null {
  const last = stdout.trim().split(/\r?\n/).pop() ?? '';
  const numbers = last.match(/\d+/g);
  return numbers && numbers.length >= 2 ? { processed: Number(numbers[0]), failed: Number(numbers[numbers.length - 1]) } : null;
}
