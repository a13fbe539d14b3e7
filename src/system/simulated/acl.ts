/**
 * The simulated ACL tools: `Get-Acl`/`Set-Acl` (kerio-dcc's `get-acl` and `set-acl`
 * PowerShell scripts) and `icacls.exe` on what is inside a folder. The owner and DACL of
 * a folder are kept as SDDL in the state's `acls`, keyed by lower-cased path; a folder with
 * no entry has what Windows gives a folder made in C:\ProgramData, unless a folder above it
 * was given a protected ACL, which it then inherits. The same parser reads these answers
 * as reads Windows' (windows/acl.ts).
 */
import { lstatSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { dirnameWin, normalizeWin, type WinPath } from '../../target/target.js';
import { parseSddl } from '../../windows/acl.js';
import type { CommandResult } from '../runner.js';
import type { SimHost, SimState } from './state.js';

/**
 * A folder an elevated administrator creates in C:\ProgramData without setting an ACL:
 * owner Administrators, and everything inherited from ProgramData, whose own DACL is
 * `D:PAI(A;OICIIO;GA;;;CO)(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)(A;CI;DCLCRPCR;;;BU)`:
 * the last entry lets Users create files and folders (icacls prints it as
 * `BUILTIN\Users:(CI)(WD,AD,WEA,WA)`). Source: public captures of `(Get-Acl).Sddl`, one of
 * a Windows Server 2025 ProgramData, and a provisioning script's expected `Get-Acl ... Sddl`
 * for a new folder under %ProgramData% (`O:BAG:SYD:AI(A;OICIID;FA;;;SY)...`; its group part
 * varies with the account, which kerio-dcc does not read).
 */
export const PROGRAMDATA_CHILD_SDDL = 'O:BAG:SYD:AI(A;OICIID;FA;;;SY)(A;OICIID;FA;;;BA)(A;OICIIOID;GA;;;CO)(A;OICIID;0x1200a9;;;BU)(A;CIID;DCLCRPCR;;;BU)';

/** An ordinary (non-administrator) account for tests: a local user's SID. */
export const ORDINARY_USER_SID = 'S-1-5-21-3623811015-3361044348-30300820-1001';

/**
 * A folder an ordinary user created in C:\ProgramData before kerio-dcc did: the user owns
 * it, and ProgramData's CREATOR OWNER entry gives that user full control of it (Windows
 * puts the creator's SID in place of CREATOR OWNER on the new folder).
 */
export function folderMadeBy(sid: string): string {
  return `O:${sid}G:${sid.replace(/-\d+$/, '-513')}D:AI(A;ID;FA;;;${sid})(A;OICIID;FA;;;SY)(A;OICIID;FA;;;BA)(A;OICIIOID;GA;;;CO)(A;OICIID;0x1200a9;;;BU)(A;CIID;DCLCRPCR;;;BU)`;
}

/** Protected and owned by Administrators, but with an explicit entry letting Users modify (0x1301bf is icacls's M). */
export const USERS_MAY_WRITE_SDDL = 'O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1301bf;;;BU)';

const CRLF = '\r\n';

function result(exitCode: number, stdout: string, stderr = ''): CommandResult {
  return { exitCode, stdout, stderr, timedOut: false };
}

function keyOf(p: WinPath): string {
  return normalizeWin(p).toLowerCase();
}

function parentOf(key: string): string | null {
  const at = key.lastIndexOf('\\');
  return at <= 2 ? (key.length > 3 ? key.slice(0, 3) : null) : key.slice(0, at);
}

/** What a folder inherits from the nearest folder above it that has a recorded, protected ACL; else ProgramData's. */
function inheritedAces(state: SimState, key: string): string {
  for (let up = parentOf(key); up !== null; up = parentOf(up)) {
    const sddl = state.acls?.[up]?.sddl;
    if (sddl === undefined) continue;
    const dacl = parseSddl(sddl).dacl;
    if (!dacl?.protected) break;
    return dacl.aces
      .filter((a) => a.flags.includes('CI'))
      .map((a) => a.text.replace(/^\(([^;]*);([^;]*);/, (_m, type: string, flags: string) => `(${type};${flags.replace(/ID/g, '')}ID;`))
      .join('');
  }
  if (key.startsWith('c:\\windows\\')) return WINDOWS_CHILD_ACES;
  return PROGRAMDATA_CHILD_SDDL.slice(PROGRAMDATA_CHILD_SDDL.indexOf('('));
}

/**
 * Inside C:\Windows (the SYSTEM profile, where the .spamassassin folder and map go):
 * SYSTEM and Administrators full control, inherited. Not captured: the SYSTEM profile is
 * reported to be administrators-only (docs/windows-tools.md, issue 14), and this is the least it
 * holds. A folder elsewhere (outside ProgramData and Windows) is given ProgramData's.
 */
const WINDOWS_CHILD_ACES = '(A;OICIID;FA;;;SY)(A;OICIID;FA;;;BA)';

export function simulatedSddl(state: SimState, p: WinPath): string {
  const key = keyOf(p);
  return state.acls?.[key]?.sddl ?? `O:BAG:SYD:AI${inheritedAces(state, key)}`;
}

function exists(host: SimHost, p: WinPath): boolean {
  try {
    lstatSync(host.toHost(p));
    return true;
  } catch {
    return false;
  }
}

/** Windows PowerShell 5.1's error for a path that is not there (the "At line" lines are left out: they depend on the script). */
function notFound(cmdlet: string, p: string): CommandResult {
  return result(
    1,
    '',
    [
      `${cmdlet} : Cannot find path '${p}' because it does not exist.`,
      `    + CategoryInfo          : ObjectNotFound: (${p}:String) [${cmdlet}], ItemNotFoundException`,
      `    + FullyQualifiedErrorId : PathNotFound,Microsoft.PowerShell.Commands.${cmdlet.replace('-', '')}Command`,
      '',
    ].join(CRLF),
  );
}

function noHost(): CommandResult {
  return result(1, '', `simulated ACL tools need the image's files, and none were given${CRLF}`);
}

/** kerio-dcc's `get-acl` script: `path|sddl` for each path. */
export function getAcl(state: SimState, params: Record<string, string>, host: SimHost | null): CommandResult {
  if (!host) return noHost();
  const lines: string[] = [];
  for (const p of (params['paths'] ?? '').split('|')) {
    // $ErrorActionPreference = 'Stop': what was printed before the missing path stays printed.
    if (!exists(host, p)) return result(1, lines.map((l) => l + CRLF).join(''), notFound('Get-Acl', p).stderr);
    lines.push(`${p}|${simulatedSddl(state, p)}`);
  }
  return result(0, lines.map((l) => l + CRLF).join(''));
}

/** kerio-dcc's `set-acl` script: Set-Acl with an SDDL, then the SDDL the folder has afterwards. */
export function setAcl(state: SimState, params: Record<string, string>, host: SimHost | null): CommandResult {
  if (!host) return noHost();
  const p = params['path'] ?? '';
  const sddl = params['sddl'] ?? '';
  if (!exists(host, p)) return notFound('Get-Acl', p);
  if (!state.elevated) {
    return result(
      1,
      '',
      [
        `Set-Acl : Attempted to perform an unauthorized operation.`,
        `    + CategoryInfo          : PermissionDenied: (${p}:String) [Set-Acl], UnauthorizedAccessException`,
        `    + FullyQualifiedErrorId : System.UnauthorizedAccessException,Microsoft.PowerShell.Commands.SetAclCommand`,
        '',
      ].join(CRLF),
    );
  }
  const key = keyOf(p);
  const parsed = parseSddl(sddl);
  const owner = /^O:([^:]*?)(?=[GDS]:|$)/.exec(sddl)?.[1] ?? /^O:([^:]*?)(?=[GDS]:|$)/.exec(simulatedSddl(state, p))?.[1] ?? 'BA';
  // Entries marked inherited in the SDDL given are not written: Windows works them out again from the parent.
  const explicit = (parsed.dacl?.aces ?? [])
    .filter((a) => !a.flags.includes('ID'))
    .map((a) => a.text)
    .join('');
  const next = parsed.dacl?.protected ? `O:${owner}G:SYD:P${explicit}` : `O:${owner}G:SYD:AI${explicit}${inheritedAces(state, key)}`;
  state.acls = { ...(state.acls ?? {}), [key]: { sddl: next.replace(/D:P(?=\()/, 'D:PAI') } };
  return result(0, `${state.acls[key]!.sddl}${CRLF}`);
}

/** A PowerShell `throw 'text'`, as Windows PowerShell 5.1 reports it (the "At line" lines are left out). */
function thrown(text: string): CommandResult {
  return result(
    1,
    '',
    [text, `    + CategoryInfo          : OperationStopped: (${text}:String) [], RuntimeException`, `    + FullyQualifiedErrorId : ${text}`, ''].join(CRLF),
  );
}

/** Where the simulation keeps its state (simulated.ts): inside the state folder. */
const STATE_FILE: WinPath = 'C:\\ProgramData\\kerio-dcc\\simulated-system.json';

/**
 * kerio-dcc's `new-folder` script: the folder is created with its owner and DACL at once.
 * The folder that holds the simulation's own state is made under a temporary name with
 * that state (and the folder's record) inside, then renamed into place, so it never
 * exists without its record: as on Windows, it never exists with other permissions.
 */
export function newFolder(state: SimState, params: Record<string, string>, host: SimHost | null): CommandResult {
  if (!host) return noHost();
  const p = params['path'] ?? '';
  if (exists(host, p)) return thrown(`${p} already exists`);
  if (!state.elevated)
    return result(
      1,
      '',
      `Exception calling "CreateDirectory" with "2" argument(s): "The security identifier is not allowed to be the owner of this object."${CRLF}`,
    );
  const sddl = (params['sddl'] ?? '').replace(/D:P(?=\()/, 'D:PAI');
  state.acls = { ...(state.acls ?? {}), [keyOf(p)]: { sddl } };
  const folder = host.toHost(p);
  if (keyOf(p) === keyOf(dirnameWin(STATE_FILE)) && host.stateElsewhere !== true) {
    const temp = `${folder}.new-${process.pid}`;
    mkdirSync(temp);
    writeFileSync(path.join(temp, path.basename(host.toHost(STATE_FILE))), JSON.stringify(state, null, 2) + '\n');
    renameSync(temp, folder);
  } else {
    mkdirSync(folder);
  }
  return result(0, `${sddl}${CRLF}`);
}

/** Everything below a host folder, not following links, as icacls /T /L walks it. */
function countInside(dir: string): number {
  let n = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    n++;
    if (entry.isDirectory()) n += countInside(`${dir}/${entry.name}`);
  }
  return n;
}

/**
 * icacls.exe `DIR\* /setowner *SID /T /C /L /Q` and `DIR\* /reset /T /C /L /Q`. With /Q
 * icacls prints only its last line, "Successfully processed N files; Failed processing M
 * files" (English; captures in icacls's help and public threads), exit 0. Without
 * elevation every item fails: "<path>: Access is denied." and exit 5 (as reported).
 */
export function runIcacls(state: SimState, args: string[], host: SimHost | null): CommandResult {
  if (!host) return noHost();
  const [name, op, ...rest] = args;
  const flags = op === '/setowner' ? rest.slice(1) : rest;
  if (!name?.endsWith('\\*') || (op !== '/setowner' && op !== '/reset') || flags.join(' ') !== '/T /C /L /Q') {
    return result(87, '', `simulated icacls.exe does not handle: icacls ${args.join(' ')}${CRLF}`);
  }
  const folder = name.slice(0, -2);
  if (!exists(host, folder))
    return result(2, '', `${folder}\\*: The system cannot find the file specified.${CRLF}Successfully processed 0 files; Failed processing 1 files${CRLF}`);
  const count = countInside(host.toHost(folder));
  if (!state.elevated) return result(5, `${folder}\\*: Access is denied.${CRLF}Successfully processed 0 files; Failed processing ${count} files${CRLF}`);
  const inside = `${keyOf(folder)}\\`;
  const acls = { ...(state.acls ?? {}) };
  for (const key of Object.keys(acls)) {
    if (!key.startsWith(inside)) continue;
    if (op === '/reset') delete acls[key];
    else acls[key] = { sddl: acls[key]!.sddl.replace(/^O:[^:]*?(?=[GDS]:)/, `O:${rest[0] === '*S-1-5-32-544' ? 'BA' : rest[0]!.replace(/^\*/, '')}`) };
  }
  if (state.acls || Object.keys(acls).length) state.acls = acls;
  return result(0, `Successfully processed ${count} files; Failed processing 0 files${CRLF}`);
}

/**
 * A simulated state in which kerio-dcc made (and secured) the state folder: for tests
 * that set up the simulation before the first run, which puts the state file, and with
 * it the state folder, in place.
 */
export function withStateFolderSecured<T extends { acls?: SimState['acls'] }>(state: T): T {
  return { ...state, acls: { ...(state.acls ?? {}), 'c:\\programdata\\kerio-dcc': { sddl: 'O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)' } } };
}
