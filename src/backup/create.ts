import { mkdirSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { eachInSlices } from '../fs/pool.js';
import { PreconditionError, errnoCode } from '../errors.js';
import { faultPoint } from '../fault.js';
import type { RunContext } from '../engine/context.js';
import type { Location } from '../detect/locate.js';
import type { Plan } from '../engine/plan.js';
import { atomicWrite } from '../fs/atomicWrite.js';
import { copyAndHashFile, kindOf, sha256, sha256File, walk } from '../fs/files.js';
import { isInsideWin, joinWin, normalizeWin, type WinPath } from '../target/target.js';
import { FILES_FOLDER, MANIFEST_NAME, backupCopyPath, backupId, type Manifest, type ManifestFile } from './manifest.js';

export interface Backup {
  /** Host path of the backup folder. */
  dir: string;
  /** The same folder as the target sees it. */
  winDir: WinPath;
  manifest: Manifest;
}

/** Copies a file to the backup while hashing it: each file is read once. */
function copyAndHash(from: string, to: string): { sha256: string; size: number } {
  faultPoint(`backup ${from}`);
  return copyAndHashFile(from, to);
}

/** The copy's place in the backup mirrors the target path: files/C/Program Files/... */
function mirrorOf(p: WinPath): string {
  const n = normalizeWin(p);
  return [FILES_FOLDER, n[0]!.toUpperCase(), ...n.slice(3).split('\\').filter(Boolean)].join('/');
}

async function makeBackupFolder(ctx: RunContext): Promise<{ id: string; dir: string; winDir: WinPath }> {
  const base = ctx.answers.backup.dir;
  const hostBase = ctx.target.toHost(base);
  try {
    await mkdir(hostBase, { recursive: true });
  } catch (err) {
    throw new PreconditionError(`Cannot create the backup folder ${base} (${errnoCode(err) ?? String(err)}).`, 'Set backup.dir in the answers file to a folder you can write to. Nothing was changed.');
  }
  const stamp = backupId(ctx.now());
  for (let n = 1; n < 100; n++) {
    const id = n === 1 ? stamp : `${stamp}-${n}`;
    const dir = path.join(hostBase, id);
    try {
      await mkdir(dir);
      return { id, dir, winDir: joinWin(base, id) };
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
    }
  }
  throw new Error(`internal: could not find a free backup folder name in ${base}`);
}

/**
 * Backs up, before the first change, every file of the rules folder and every other file
 * the plan overwrites or deletes; records what the run will create; then checks each copy
 * against its hash, and that nothing changed since the plan was made.
 */
export async function createBackup(ctx: RunContext, plan: Plan, location: Location): Promise<Backup> {
  for (const tree of plan.backupTrees) {
    if (isInsideWin(ctx.answers.backup.dir, tree)) {
      throw new PreconditionError(`backup.dir ${ctx.answers.backup.dir} is inside ${tree}, which Kerio upgrades replace.`, 'Set backup.dir in the answers file to a folder outside the rules folder.');
    }
  }
  const folder = await makeBackupFolder(ctx);
  try {
    return await fillBackup(ctx, plan, location, folder);
  } catch (err) {
    await rm(folder.dir, { recursive: true, force: true }).catch(() => undefined);
    if (err instanceof PreconditionError) throw err;
    const code = errnoCode(err);
    throw new PreconditionError(
      `Making the backup in ${folder.winDir} failed${code ? ` (${code})` : ''}: ${(err as Error).message}`,
      code === 'ENOSPC' ? 'Free some disk space and run again. Nothing was changed.' : 'Nothing was changed. Check that the backup folder is writable and the disk is not full.',
    );
  }
}

async function fillBackup(ctx: RunContext, plan: Plan, location: Location, folder: { id: string; dir: string; winDir: WinPath }): Promise<Backup> {
  const files: ManifestFile[] = [];
  const skipped: string[] = [];
  const byKey = new Map<string, ManifestFile>();
  const madeDirs = new Set<string>();
  const add = (p: WinPath, hostPath: string): void => {
    const key = normalizeWin(p).toLowerCase();
    if (byKey.has(key)) return;
    const entry: ManifestFile = { path: normalizeWin(p), backup: mirrorOf(p), size: 0, sha256: '' };
    byKey.set(key, entry);
    files.push(entry);
    const copy = backupCopyPath(folder.dir, entry.backup);
    if (!madeDirs.has(path.dirname(copy))) {
      mkdirSync(path.dirname(copy), { recursive: true });
      madeDirs.add(path.dirname(copy));
    }
    Object.assign(entry, copyAndHash(hostPath, copy));
  };
  for (const tree of plan.backupTrees) {
    await eachInSlices(walk(ctx.target.toHost(tree)), (entry) => {
      const p = joinWin(tree, ...entry.relative.split(path.sep));
      if (entry.kind === 'file') add(p, entry.hostPath);
      else skipped.push(`${p} (${entry.kind === 'link' ? 'a link or junction: not followed' : 'not a regular file'})`);
    });
  }
  const created: Manifest['created'] = [];
  const actions = plan.steps.flatMap((s) => s.actions);
  for (const action of actions) {
    if (action.kind === 'mkdir') created.push({ type: 'dir', path: normalizeWin(action.path) });
    if (action.kind !== 'writeFile' && action.kind !== 'deleteFile') continue;
    const host = ctx.target.toHost(action.path);
    const exists = (await kindOf(host)) === 'file';
    if (exists) add(action.path, host);
    const entry = byKey.get(normalizeWin(action.path).toLowerCase());
    const after = action.kind === 'writeFile' ? sha256(action.content) : null;
    if (entry) entry.after = after;
    else if (action.kind === 'writeFile') created.push({ type: 'file', path: normalizeWin(action.path), sha256: after! });
  }
  const firewall: Manifest['firewall'] = [];
  for (const action of actions) {
    if (action.kind === 'firewall' && !firewall.some((f) => f.name === action.ruleName)) firewall.push({ name: action.ruleName, before: action.before, after: action.after });
  }

  await eachInSlices(files, (f) => {
    if (sha256File(backupCopyPath(folder.dir, f.backup)) !== f.sha256) {
      throw new PreconditionError(`The backup copy of ${f.path} does not match the original after copying.`, 'The disk may be failing or full. Nothing was changed.');
    }
  });
  for (const [p, readHash] of plan.readHashes) {
    const entry = byKey.get(normalizeWin(p).toLowerCase());
    if ((entry?.sha256 ?? null) !== readHash) {
      throw new PreconditionError(`${p} changed while this run was being planned (another program or person edited it).`, 'Nothing was changed. Run the command again.');
    }
  }

  const manifest: Manifest = {
    schema: 1,
    tool: 'kerio-dcc',
    toolVersion: ctx.toolVersion,
    id: folder.id,
    command: plan.command,
    createdAt: ctx.now().toISOString(),
    finishedAt: null,
    status: 'applying',
    target: { root: ctx.target.root, rulesDir: location.rulesDir, installDir: location.installDir, service: ctx.answers.kerio.service },
    answersFile: ctx.loaded.file,
    changes: plan.steps.filter((s) => s.status === 'change' && s.id !== 'backup').map((s) => s.id),
    files,
    created,
    firewall,
    skipped,
  };
  await writeManifest(folder.dir, manifest);
  return { dir: folder.dir, winDir: folder.winDir, manifest };
}

export async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  await atomicWrite(path.join(dir, MANIFEST_NAME), Buffer.from(JSON.stringify(manifest, null, 2) + '\n', 'utf8'));
}
