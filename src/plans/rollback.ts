import { lstatSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { RunContext } from '../model/context.js';
import { step, type Action, type Plan, type StepPlan } from '../model/plan.js';
import { unifiedDiff } from '../text/diff.js';
import { PreconditionError } from '../errors.js';
import { kindOf, sha256IfExists, readIfExists } from '../fs/files.js';
import { eachInSlices } from '../fs/slices.js';
import { planService } from '../managed/service.js';
import { NO_SYSTEM } from '../managed/firewallRules.js';
import { basenameWin, dirnameWin, normalizeWin, type WinPath } from '../target/target.js';
import { missingFolders } from '../managed/profileFolders.js';
import { isLeftoverTemp } from '../fs/atomicWrite.js';
import { addRuleRequest, deleteRuleRequest, ruleMatches, showRules, type FirewallRule } from '../windows/firewall.js';
import { backupCopyPath, type Manifest } from '../store/manifest.js';
import { planAclRestore } from '../managed/stateFolderAcl.js';

export interface RestoreOptions {
  /** Also restore files changed since the run (an administrator's edit, a Kerio upgrade). */
  force: boolean;
}

export interface RestorePlan {
  plan: Plan;
  /** Files changed since the run, kept as they are (without --force) or overwritten (with it). */
  conflicts: string[];
}

/** Config files are small text; a map is binary and a huge file is not worth a diff. */
function looksLikeText(bytes: Buffer): boolean {
  return bytes.length < 1_000_000 && !bytes.includes(0);
}

/** The first part of a copy's path below the backup folder that is a link or junction (each folder looked at once), or null. */
function linkOnTheWay(dir: string, relative: string, seen: Map<string, boolean>): string | null {
  const parts = relative.split('/');
  for (let i = 1; i <= parts.length; i++) {
    const rel = parts.slice(0, i).join('/');
    let link = seen.get(rel);
    if (link === undefined) {
      try {
        link = lstatSync(path.join(dir, ...parts.slice(0, i))).isSymbolicLink();
      } catch {
        link = false;
      }
      if (i < parts.length) seen.set(rel, link);
    }
    if (link) return rel;
  }
  return null;
}

/** Every copy is checked against its sha256 before anything is touched; one bad copy stops it all. Links are never followed. */
export async function verifyBackupCopies(dir: string, manifest: Manifest): Promise<string[]> {
  const problems: string[] = [];
  const seen = new Map<string, boolean>();
  await eachInSlices(manifest.files, (f) => {
    const copy = backupCopyPath(dir, f.backup);
    const link = linkOnTheWay(dir, f.backup, seen);
    if (link !== null) {
      problems.push(`${f.path}: ${link} in the backup is a link or junction, which kerio-dcc never follows`);
      return;
    }
    const hash = sha256IfExists(copy);
    if (hash === null) problems.push(`${f.path}: the copy ${f.backup} is missing`);
    else if (hash !== f.sha256) problems.push(`${f.path}: the copy ${f.backup} was altered (sha256 differs from the manifest)`);
  });
  return problems;
}

function sameRules(a: FirewallRule[], b: FirewallRule[]): boolean {
  return a.length === b.length && a.every((rule, i) => ruleMatches(rule, b[i]!));
}

/** DCC rewrites its map on every run: a map the run wrote is still the run's, whatever it holds now. */
function keepsItsState(entry: { path: WinPath; keepsState?: true }): boolean {
  return entry.keepsState === true && basenameWin(entry.path).toLowerCase() === 'map';
}

async function planFiles(
  ctx: RunContext,
  dir: string,
  manifest: Manifest,
  options: RestoreOptions,
  conflicts: string[],
): Promise<{ step: StepPlan; readHashes: Plan['readHashes'] }> {
  const actions: Action[] = [];
  const diffs: string[] = [];
  const readHashes: Plan['readHashes'] = new Map();
  for await (const f of manifest.files) {
    const host = ctx.target.toHost(f.path);
    const current = sha256IfExists(host);
    if (current === f.sha256) continue;
    const ranHere = f.after !== undefined && (current === f.after || (current !== null && keepsItsState(f)));
    if (!ranHere) {
      conflicts.push(
        `${f.path} ${current === null ? 'was deleted' : 'was changed'} since the backup was made${options.force ? ': restored anyway (--force); the current version is in the new backup' : ': kept as it is (restore it with --force)'}`,
      );
      if (!options.force) continue;
    }
    const content = await readFile(backupCopyPath(dir, f.backup));
    const currentBytes = current === null ? null : await readIfExists(host);
    // A folder removed since (e.g. by an earlier rollback) is made again, and recorded as made.
    for (const folder of await missingFolders(ctx, dirnameWin(f.path))) {
      if (!actions.some((a) => a.kind === 'mkdir' && a.path === folder)) actions.push({ kind: 'mkdir', path: folder });
    }
    actions.push({ kind: 'writeFile', path: f.path, content });
    readHashes.set(f.path, current);
    if (looksLikeText(content) && (currentBytes === null || looksLikeText(currentBytes))) diffs.push(unifiedDiff(f.path, currentBytes, content));
  }
  return {
    readHashes,
    step: step('restore', 'restore files', {
      status: actions.length ? 'change' : 'unchanged',
      detail: actions.length
        ? `put back ${actions
            .filter((a) => a.kind === 'writeFile')
            .map((a) => basenameWin(a.path))
            .join(', ')} from backup ${manifest.id}`
        : `every file matches backup ${manifest.id}`,
      diffs,
      actions,
      serviceReads: true,
    }),
  };
}

async function planRemovals(ctx: RunContext, manifest: Manifest, options: RestoreOptions, conflicts: string[]): Promise<StepPlan> {
  const actions: Action[] = [];
  const notes: string[] = [];
  const removed = new Set<string>();
  for (const c of manifest.created.filter((c) => c.type === 'file')) {
    const current = sha256IfExists(ctx.target.toHost(c.path));
    if (current === null) continue;
    if (current !== c.sha256 && !keepsItsState(c)) {
      conflicts.push(`${c.path} was changed since this run created it${options.force ? ': removed anyway (--force)' : ': kept (remove it with --force)'}`);
      if (!options.force) continue;
    }
    actions.push({ kind: 'deleteFile', path: c.path });
    removed.add(normalizeWin(c.path).toLowerCase());
  }
  // A run killed between writing a temp file and renaming it leaves the temp file behind.
  const touched = new Set(manifest.created.filter((c) => c.type === 'file').map((c) => dirnameWin(normalizeWin(c.path))));
  for await (const f of manifest.files) if (f.after !== undefined) touched.add(dirnameWin(normalizeWin(f.path)));
  for (const folder of touched) {
    const names = await readdir(ctx.target.toHost(folder)).catch(() => [] as string[]);
    for (const name of names.filter(isLeftoverTemp)) {
      actions.push({ kind: 'deleteFile', path: `${folder}\\${name}` });
      removed.add(`${folder}\\${name}`.toLowerCase());
    }
  }
  // Deepest folders first, and only those that will be empty: never remove what someone else put there.
  const dirs = manifest.created
    .filter((c) => c.type === 'dir')
    .map((c) => normalizeWin(c.path))
    .sort((a, b) => b.length - a.length);
  for (const d of dirs) {
    const host = ctx.target.toHost(d);
    if ((await kindOf(host)) !== 'dir') continue;
    const left = (await readdir(host)).filter((name) => !removed.has(`${d}\\${name}`.toLowerCase()));
    if (left.length > 0) {
      notes.push(`${d} is left in place: it holds ${left.length} item(s) this run did not create`);
      continue;
    }
    actions.push({ kind: 'removeEmptyDir', path: d });
    removed.add(d.toLowerCase());
  }
  return step('remove', 'remove what the run created', {
    status: actions.length ? 'change' : 'unchanged',
    detail: actions.length ? `remove ${actions.map((a) => ('path' in a ? a.path : '')).join(', ')}` : 'nothing the run created is left',
    notes,
    actions,
    serviceReads: actions.some((a) => a.kind === 'deleteFile'),
  });
}

async function planFirewallRestore(ctx: RunContext, manifest: Manifest): Promise<StepPlan> {
  const title = 'firewall (UDP 6277)';
  if (manifest.firewall.length === 0) return step('firewall', title, { status: 'unchanged', detail: 'the run did not change the firewall' });
  if (!ctx.runner) return step('firewall', title, { status: 'skipped', detail: NO_SYSTEM });
  const actions: Action[] = [];
  const details: string[] = [];
  for (const entry of manifest.firewall) {
    const current = await showRules(ctx.runner, ctx.target, entry.name);
    if (sameRules(current, entry.before)) continue;
    const requests = [...(current.length ? [deleteRuleRequest(ctx.target, entry.name)] : []), ...entry.before.map((rule) => addRuleRequest(ctx.target, rule))];
    for (const request of requests) actions.push({ kind: 'firewall', request, ruleName: entry.name, before: current, after: entry.before });
    details.push(entry.before.length ? `put back "${entry.name}" as it was` : `delete "${entry.name}"`);
  }
  return step('firewall', title, {
    status: actions.length ? 'change' : 'unchanged',
    detail: actions.length ? details.join('; ') : 'rules as they were before the run',
    actions,
  });
}

/** Plans undoing a run from its backup; reads only. Refuses a backup that fails verification. */
export async function planRestore(ctx: RunContext, dir: string, manifest: Manifest, rulesDir: WinPath, options: RestoreOptions): Promise<RestorePlan> {
  const problems = await verifyBackupCopies(dir, manifest);
  if (problems.length) {
    throw new PreconditionError(
      `Backup ${manifest.id} failed verification, so nothing was restored:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      'Nothing was changed. Choose another backup (kerio-dcc backups --verify).',
    );
  }
  const conflicts: string[] = [];
  const files = await planFiles(ctx, dir, manifest, options, conflicts);
  const removals = await planRemovals(ctx, manifest, options, conflicts);
  const firewall = await planFirewallRestore(ctx, manifest);
  const permissions = await planAclRestore(ctx, dir, manifest.acls ?? []);
  const verify = step('verify', 'verify backup', {
    status: 'unchanged',
    detail: `${manifest.files.count} file(s) of backup ${manifest.id} match their sha256`,
  });
  // The watch task follows its task file, put back or removed by the two steps before.
  const task = await (await import('../managed/watchTask.js')).planTaskRestore(ctx, [files.step, removals]);
  const changing = [files.step, removals, firewall, permissions, ...(task ? [task] : [])];
  const service = planService(ctx, changing);
  const trees = [rulesDir].filter(() => changing.some((s) => s.status === 'change'));
  return {
    conflicts,
    plan: {
      command: 'rollback',
      steps: [verify, ...changing, service],
      readHashes: files.readHashes,
      backupTrees: trees,
    },
  };
}
