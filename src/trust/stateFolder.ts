/**
 * The trust boundary: everything kerio-dcc believes (backups, manifests, the journal of an
 * unfinished run, the lock) lives in the state folder and the backup folder, and is only
 * believed when only Administrators and SYSTEM can write there. This module alone decides
 * that, once per run, before anything in those folders is read.
 */
import { fixCommand } from '../model/commandLine.js';
import { mkdir, readdir, rmdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { RunContext } from '../model/context.js';
import { PreconditionError, errnoCode } from '../errors.js';
import { kindOf } from '../fs/files.js';
import { decodePowershell } from '../windows/powershell.js';
import { isInsideWin, normalizeWin, type WinPath } from '../target/target.js';
import {
  SAFE_FOLDER_SDDL,
  SddlError,
  describeScriptFailure,
  judgeSddl,
  newFolderRequest,
  parseReadAcls,
  readAclsRequest,
  type AclFinding,
} from '../windows/acl.js';

export const STATE_FOLDER: WinPath = 'C:\\ProgramData\\kerio-dcc';
/** The simulation keeps its own state in the state folder; a folder kerio-dcc just made may hold it. */
const SIMULATION_FILE = 'simulated-system.json';

export interface FolderVerdict {
  path: WinPath;
  exists: boolean;
  /** Owner and DACL as read; null when the folder is absent or could not be read. */
  sddl: string | null;
  /** Why it cannot be trusted; empty when it can (or when it does not exist). */
  findings: AclFinding[];
}

export interface TrustVerdict {
  /** False on an image without --simulate: there is no system to read ACLs from. */
  checked: boolean;
  folders: FolderVerdict[];
  /**
   * Other files and folders kerio-dcc made (the profile folders and their map), read in the
   * same call when asked for: they may inherit their parent's ACL, but nobody other than
   * Administrators and SYSTEM may own or write them.
   */
  others: FolderVerdict[];
}

export const NOT_CHECKED_ON_IMAGE =
  "the state folder's permissions were not checked: the target is an image (--root), whose ACLs cannot be read here (add --simulate to check the simulated system)";

/** The folders whose contents kerio-dcc trusts: the state folder, and the backup folder when it lies elsewhere. */
export function trustedFolders(ctx: RunContext): WinPath[] {
  const backups = normalizeWin(ctx.answers.backup.dir);
  return isInsideWin(backups, STATE_FOLDER) ? [STATE_FOLDER] : [STATE_FOLDER, backups];
}

function finding(text: string): AclFinding {
  return { kind: 'entry', sid: null, text };
}

const verdicts = new WeakMap<RunContext, Promise<TrustVerdict>>();

/**
 * Reads the trusted folders' owners and DACLs: one PowerShell call for all of them (and for
 * `others`, when the first caller names some), once per run.
 */
export function inspectTrust(ctx: RunContext, others: WinPath[] = []): Promise<TrustVerdict> {
  let verdict = verdicts.get(ctx);
  if (!verdict) {
    verdict = readVerdict(ctx, others);
    verdicts.set(ctx, verdict);
  }
  return verdict;
}

async function readVerdict(ctx: RunContext, otherPaths: WinPath[]): Promise<TrustVerdict> {
  if (!ctx.runner) return { checked: false, folders: [], others: [] };
  const folders: FolderVerdict[] = [];
  const toRead: FolderVerdict[] = [];
  for (const p of trustedFolders(ctx)) {
    const kind = await kindOf(ctx.target.toHost(p));
    const v: FolderVerdict = { path: p, exists: kind !== null, sddl: null, findings: [] };
    if (kind === 'dir') toRead.push(v);
    else if (kind === 'link') v.findings.push(finding('it is a link or junction: kerio-dcc never follows one to what it trusts'));
    else if (kind !== null) v.findings.push(finding('it is not a folder'));
    folders.push(v);
  }
  // A backup folder inside the state folder is covered by it, but must not lead elsewhere.
  const backups = normalizeWin(ctx.answers.backup.dir);
  if (!trustedFolders(ctx).includes(backups) && (await kindOf(ctx.target.toHost(backups))) === 'link') {
    folders.push({ path: backups, exists: true, sddl: null, findings: [finding('it is a link or junction: kerio-dcc never follows one to what it trusts')] });
  }
  const others: FolderVerdict[] = [];
  for (const p of otherPaths) {
    const kind = await kindOf(ctx.target.toHost(p));
    if (kind === null) continue;
    const v: FolderVerdict = { path: p, exists: true, sddl: null, findings: [] };
    if (kind === 'link') v.findings.push(finding('it is a link or junction'));
    else toRead.push(v);
    others.push(v);
  }
  if (toRead.length) {
    const request = readAclsRequest(
      ctx.target,
      toRead.map((v) => v.path),
    );
    const result = await ctx.runner.run(request);
    const sddls =
      result.exitCode === 0
        ? parseReadAcls(
            result.stdout,
            toRead.map((v) => v.path),
          )
        : null;
    for (const v of toRead) {
      const sddl = sddls?.get(v.path.toLowerCase()) ?? null;
      if (sddl === null) {
        v.findings.push(finding(`its permissions could not be read (${describeScriptFailure('Get-Acl', result)})`));
        continue;
      }
      v.sddl = sddl;
      try {
        // What kerio-dcc made outside its own folders may inherit; it may not be owned or written by others.
        v.findings.push(...judgeSddl(sddl).filter((f) => !others.includes(v) || f.kind !== 'inherits'));
      } catch (err) {
        if (!(err instanceof SddlError)) throw err;
        v.findings.push(finding(`its permissions could not be understood (${err.message})`));
      }
    }
  }
  return { checked: true, folders, others };
}

export function unsafeFolders(verdict: TrustVerdict): FolderVerdict[] {
  return verdict.folders.filter((f) => f.findings.length > 0);
}

/** The command that makes the folders safe, with this run's target flags. */
export async function secureCommand(ctx: RunContext): Promise<string> {
  return fixCommand(ctx, ['backups', '--secure', '--yes']);
}

export function describeUnsafe(f: FolderVerdict): string {
  return `${f.path}: ${f.findings.map((x) => x.text).join('; ')}`;
}

/** Exit 3: names each folder and what is wrong, why it matters, and the command that fixes it. */
export async function untrustedError(ctx: RunContext, unsafe: FolderVerdict[]): Promise<PreconditionError> {
  return new PreconditionError(
    `kerio-dcc does not trust what is in ${unsafe.map((f) => f.path).join(' and ')}, because someone other than Administrators and SYSTEM can change it:\n` +
      unsafe.map((f) => `  - ${describeUnsafe(f)}`).join('\n') +
      '\nAnyone who can write there can plant a backup or the journal of an "unfinished run" that kerio-dcc would restore into Kerio\'s SpamAssassin rules, which Kerio runs as LocalSystem. ' +
      'So nothing in it is used: no recovery of an interrupted run, no rollback, no pruning.',
    `Nothing was changed. Look at what is in ${unsafe.map((f) => f.path).join(' and ')} and remove anything you did not put there; then, as an administrator, run: ${await secureCommand(ctx)} ` +
      '(it makes Administrators the owner of the folder and of everything in it, and lets only SYSTEM and Administrators write there). Do not use the backups in it before that.',
  );
}

/**
 * Makes a missing trusted folder: created, then at once given owner Administrators and a
 * protected DACL (SYSTEM and Administrators only), then checked again. Anything that
 * appeared inside between the two (someone else's file) makes it untrusted.
 */
async function createSecured(ctx: RunContext, folder: WinPath): Promise<string | undefined> {
  const host = ctx.target.toHost(folder);
  // Its parents (C:\ProgramData, or those of a backup.dir elsewhere) are not what is trusted.
  const parents = await mkdir(path.dirname(host), { recursive: true }).catch((err: unknown) => {
    throw new PreconditionError(
      `Cannot create ${folder} (${errnoCode(err) ?? String(err)}).`,
      'Set backup.dir in the answers file to a folder you can write to. Nothing was changed.',
    );
  });
  const request = newFolderRequest(ctx.target, folder, SAFE_FOLDER_SDDL);
  const result = await ctx.runner!.run(request);
  if (result.exitCode !== 0) {
    // Made by someone else meanwhile: it is judged as found.
    if ((await kindOf(host)) !== null) return parents;
    throw new PreconditionError(
      `Could not create ${folder} restricted to Administrators and SYSTEM: ${describeScriptFailure('PowerShell (CreateDirectory with an ACL)', result)}`,
      'Run kerio-dcc from an elevated prompt (Run as administrator). Nothing was changed.',
    );
  }
  const strangers = (await readdir(host)).filter((name) => !(ctx.runner!.simulated && name === SIMULATION_FILE && normalizeWin(folder) === STATE_FOLDER));
  if (strangers.length) {
    throw new PreconditionError(
      `${folder} was just created by kerio-dcc, but something else is in it already: ${strangers.map((n) => `"${n}"`).join(', ')}.`,
      `Nothing was changed. Find out who did, remove it, then run: ${await secureCommand(ctx)}`,
    );
  }
  return parents ?? host;
}

/**
 * Before anything in the trusted folders is read: a folder that is not safe stops the run
 * (exit 3); one that does not exist yet holds nothing to believe. On an image without
 * --simulate the check is skipped, and the run says so once.
 */
export async function requireTrusted(ctx: RunContext, warnings: string[]): Promise<void> {
  const verdict = await inspectTrust(ctx);
  if (!verdict.checked) {
    if (!warnings.includes(NOT_CHECKED_ON_IMAGE)) warnings.push(NOT_CHECKED_ON_IMAGE);
    return;
  }
  const unsafe = unsafeFolders(verdict);
  if (unsafe.length) throw await untrustedError(ctx, unsafe);
}

/** A folder a run created (host path), and the outermost folder it had to create for it. */
export interface MadeFolder {
  host: string;
  outermost: string;
}

/**
 * Before the first write (the lock): every trusted folder that does not exist yet is
 * created safe, and checked again. Returns what it created, innermost first, so that a run
 * that ends up writing nothing can take it away again (removeUnusedFolder).
 */
export async function createTrustedFolders(ctx: RunContext): Promise<MadeFolder[]> {
  const verdict = await inspectTrust(ctx);
  if (!verdict.checked) return [];
  const missing = verdict.folders.filter((f) => !f.exists);
  if (missing.length === 0) return [];
  const made: MadeFolder[] = [];
  for (const f of missing) {
    const outermost = await createSecured(ctx, f.path);
    if (outermost) made.unshift({ host: ctx.target.toHost(f.path), outermost });
  }
  forgetVerdict(ctx);
  const still = unsafeFolders(await inspectTrust(ctx));
  if (still.length) throw await untrustedError(ctx, still);
  return made;
}

/**
 * At the end of a run, the folders it created (createTrustedFolders) that it left empty are
 * taken away again. A state folder left holding nothing but the simulation's own state is
 * taken away with that file when the run's only changing commands created these folders:
 * that state then records nothing else, and the simulated system is as before the run.
 */
export async function removeUnusedFolders(ctx: RunContext, made: MadeFolder[]): Promise<void> {
  const stateHost = ctx.target.toHost(STATE_FOLDER);
  const removeChain = async (f: MadeFolder) => {
    for (let d = f.host; d.length >= f.outermost.length; d = path.dirname(d)) {
      if (
        !(await rmdir(d).then(
          () => true,
          () => false,
        )) ||
        d === f.outermost
      )
        return;
    }
  };
  for (const f of made) if (f.host !== stateHost && ((await readdir(f.host).catch(() => null))?.length ?? 1) === 0) await removeChain(f);
  const state = made.find((f) => f.host === stateHost);
  if (!state) return;
  const names = await readdir(state.host).catch(() => null);
  if (names === null) return;
  if (names.length === 1 && names[0] === SIMULATION_FILE && ctx.runner?.simulated) {
    const othersGone = (await Promise.all(made.filter((f) => f !== state).map((f) => kindOf(f.host)))).every((k) => k === null);
    const onlyFolders = ctx.runner.records.filter((r) => r.mutates).every((r) => decodePowershell(r.args)?.kind === 'new-folder');
    if (!othersGone || !onlyFolders) return;
    await unlink(path.join(state.host, SIMULATION_FILE)).catch(() => undefined);
  } else if (names.length) return;
  await removeChain(state);
}

/** After the folders' permissions were changed, the next question reads them again. */
export function forgetVerdict(ctx: RunContext): void {
  verdicts.delete(ctx);
}

/** For readers of the backup folder: refuses (exit 3) unless the check ran and found it safe, or could not run (an image). */
export async function assertTrusted(ctx: RunContext): Promise<void> {
  const verdict = await inspectTrust(ctx);
  const unsafe = unsafeFolders(verdict);
  if (unsafe.length) throw await untrustedError(ctx, unsafe);
}
