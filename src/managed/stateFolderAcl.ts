/**
 * Changing who may write the trusted folders: `backups --secure` (owner Administrators,
 * SYSTEM and Administrators only, everything inside owned by Administrators and inheriting
 * that), and putting a recorded ACL back when such a run is rolled back.
 */
import { readdir } from 'node:fs/promises';
import type { RunContext } from '../model/context.js';
import { step, type Action, type StepPlan } from '../model/plan.js';
import { PreconditionError } from '../errors.js';
import type { ManifestAcl } from '../store/manifest.js';
import { normalizeWin } from '../target/target.js';
import {
  SAFE_FOLDER_SDDL,
  describeScriptFailure,
  describeSid,
  icaclsCounts,
  icaclsInsideRequest,
  judgeSddl,
  parseReadAcls,
  parseSddl,
  readAclsRequest,
  setAclRequest,
} from '../windows/acl.js';
import { describeFailure } from '../windows/tools.js';
import { describeUnsafe, forgetVerdict, trustedFolders, type TrustVerdict } from '../trust/stateFolder.js';

function requireRunner(ctx: RunContext) {
  if (!ctx.runner) throw new Error('internal: a permissions change was planned, but no system is available');
  return ctx.runner;
}

/** What a folder holds, for the administrator to look at before it is trusted: its first entries by name. */
export async function contentsOf(ctx: RunContext, folder: string): Promise<string[]> {
  return (await readdir(ctx.target.toHost(folder)).catch(() => [] as string[])).sort();
}

function ownerOf(sddl: string): string {
  const owner = parseSddl(sddl).owner;
  return owner ? describeSid(owner) : 'unknown';
}

/**
 * Plans `backups --secure`: one action per trusted folder that is not safe; a safe one is
 * left alone, unless `redo` (an earlier backups --secure was interrupted after the folder
 * itself was made safe, and what is inside may not have been taken over yet).
 */
export async function planSecure(ctx: RunContext, verdict: TrustVerdict, redo = false): Promise<StepPlan> {
  const actions: Action[] = [];
  const details: string[] = [];
  const notes: string[] = [];
  for (const f of verdict.folders) {
    if (!f.exists) {
      notes.push(`${f.path} does not exist yet: kerio-dcc creates it safe when it first needs it`);
      continue;
    }
    if (f.findings.length === 0 && !redo) {
      notes.push(`${f.path} is already owned by Administrators or SYSTEM, and only they may write it`);
      continue;
    }
    if (f.sddl === null) {
      throw new PreconditionError(
        `kerio-dcc cannot secure ${describeUnsafe(f)}.`,
        `Nothing was changed. Remove or replace it by hand (a link is removed with rmdir, which leaves its target alone); if its permissions cannot be read, take it with: takeown /F "${f.path}" /A /R, then run this again.`,
      );
    }
    const contents = await contentsOf(ctx, f.path);
    actions.push({ kind: 'secureFolder', path: f.path, before: f.sddl, inside: contents.length > 0 });
    details.push(`${f.path} (now owned by ${ownerOf(f.sddl)})`);
    if (f.findings.length) notes.push(`${f.path} now: ${f.findings.map((x) => x.text).join('; ')}`);
    notes.push(
      contents.length
        ? `${f.path} holds ${contents.length} item(s): ${contents.slice(0, 20).join(', ')}${contents.length > 20 ? ', ...' : ''}. Once secured, kerio-dcc trusts them: look at them first`
        : `${f.path} is empty`,
    );
  }
  return step('permissions', 'folder permissions', {
    status: actions.length ? 'change' : 'unchanged',
    detail: actions.length
      ? `make Administrators the owner of ${details.join(' and ')} and of everything inside; let only SYSTEM and Administrators write there (not inherited from the parent)`
      : 'only Administrators and SYSTEM can write what kerio-dcc trusts',
    notes,
    actions,
  });
}

/** Reads the folders' SDDLs now, in one call. */
async function currentSddls(ctx: RunContext, paths: string[]): Promise<Map<string, string>> {
  const request = readAclsRequest(ctx.target, paths);
  const result = await requireRunner(ctx).run(request);
  const found = result.exitCode === 0 ? parseReadAcls(result.stdout, paths) : null;
  if (!found)
    throw new PreconditionError(`Cannot read the permissions of ${paths.join(', ')}: ${describeScriptFailure('Get-Acl', result)}`, 'Nothing was changed.');
  return found;
}

/**
 * Plans putting back the permissions a run changed (rolling back backups --secure). Only the
 * trusted folders may be named: a manifest naming another path is refused.
 */
export async function planAclRestore(ctx: RunContext, dir: string, acls: ManifestAcl[]): Promise<StepPlan> {
  const title = 'folder permissions';
  if (acls.length === 0) return step('permissions', title, { status: 'unchanged', detail: 'the run did not change permissions' });
  const allowed = new Set(trustedFolders(ctx).map((p) => normalizeWin(p).toLowerCase()));
  for (const a of acls) {
    if (!allowed.has(normalizeWin(a.path).toLowerCase())) {
      throw new PreconditionError(
        `The backup at ${dir} cannot be trusted: it would change the permissions of ${a.path}, which is not a kerio-dcc folder.`,
        'Nothing was changed. Use another backup.',
      );
    }
  }
  if (!ctx.runner) return step('permissions', title, { status: 'skipped', detail: 'permissions cannot be read or set on an image without --simulate' });
  const now = await currentSddls(
    ctx,
    acls.map((a) => a.path),
  );
  const actions: Action[] = [];
  const notes: string[] = [];
  for (const a of acls) {
    const current = now.get(a.path.toLowerCase())!;
    if (current === a.before) continue;
    actions.push({ kind: 'setAcl', path: a.path, sddl: a.before, before: current });
    const unsafe = judgeSddl(a.before);
    if (unsafe.length)
      notes.push(
        `the permissions put back on ${a.path} are not safe (${unsafe.map((x) => x.text).join('; ')}): kerio-dcc will refuse to use it until kerio-dcc backups --secure is run again`,
      );
  }
  return step('permissions', title, {
    status: actions.length ? 'change' : 'unchanged',
    detail: actions.length
      ? `put back the owner and permissions of ${actions.map((a) => ('path' in a ? a.path : '')).join(', ')}`
      : 'permissions as they were before the run',
    notes,
    actions,
  });
}

/** Carries out secureFolder and setAcl; each ends by checking what the folder has now. */
export async function executeAclAction(ctx: RunContext, action: Extract<Action, { kind: 'secureFolder' | 'setAcl' }>): Promise<void> {
  const runner = requireRunner(ctx);
  forgetVerdict(ctx);
  const set = setAclRequest(ctx.target, action.path, action.kind === 'secureFolder' ? SAFE_FOLDER_SDDL : action.sddl);
  const result = await runner.run(set);
  if (result.exitCode !== 0) throw new Error(describeScriptFailure(`Set-Acl on ${action.path}`, result));
  if (action.kind === 'setAcl') return;
  const now = result.stdout.trim().split(/\r?\n/).pop() ?? '';
  const left = judgeSddl(now);
  if (left.length) throw new Error(`${action.path} still is not safe after Set-Acl: ${left.map((x) => x.text).join('; ')}`);
  if (!action.inside) return;
  // Owners first: a planted file's owner could otherwise change its permissions back.
  for (const what of ['setowner', 'reset'] as const) {
    const request = icaclsInsideRequest(ctx.target, action.path, what);
    const done = await runner.run(request);
    const counts = icaclsCounts(done.stdout);
    if (done.exitCode !== 0 || !counts || counts.failed > 0) {
      throw new Error(
        `${describeFailure(request, done)}\n` +
          (what === 'setowner'
            ? `Some items inside could not be given to Administrators. Take them with: takeown /F "${action.path}" /A /R, then run kerio-dcc backups --secure again.`
            : ''),
      );
    }
  }
}
