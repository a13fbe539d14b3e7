import { mkdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { eachInSlices } from '../fs/slices.js';
import { PreconditionError, errnoCode } from '../errors.js';
import { faultPoint } from '../fault.js';
import type { RunContext } from '../model/context.js';
import type { Location } from '../detect/locate.js';
import type { Plan } from '../model/plan.js';
import { CopyMismatchError, copyAndHashFile, kindOf, sha256, walk } from '../fs/files.js';
import { isInsideWin, joinWin, normalizeWin, type WinPath } from '../target/target.js';
import { SAFE_FOLDER_SDDL } from '../windows/acl.js';
import { createTrustedFolders } from '../trust/stateFolder.js';
import { BackupWriter, backupId, writeManifest } from './format.js';
import type { Manifest, ManifestFile, ManifestHead, ManifestStatus, ManifestTail } from './manifest.js';

export interface Backup {
  /** Host path of the backup folder. */
  dir: string;
  /** The same folder as the target sees it. */
  winDir: WinPath;
  /** Its manifest: the file list stays on disk, so memory stays flat however big the rules folder. */
  manifest: Manifest;
}

/** Copies a file to the backup while hashing it (each file is read once), and checks the copy. */
function copyAndHash(p: WinPath, from: string, to: string): { sha256: string; size: number } {
  faultPoint(`backup ${from}`);
  try {
    return copyAndHashFile(from, to);
  } catch (err) {
    if (!(err instanceof CopyMismatchError)) throw err;
    throw new PreconditionError(`The backup copy of ${p} does not match the original after copying.`, 'The disk may be failing or full. Nothing was changed.');
  }
}

function keyOf(p: WinPath): string {
  return normalizeWin(p).toLowerCase();
}

async function startBackup(ctx: RunContext): Promise<BackupWriter> {
  const base = ctx.answers.backup.dir;
  const hostBase = ctx.target.toHost(base);
  // Normally done with the lock; a caller without one (a test, the wizard's own flow) gets the same.
  await createTrustedFolders(ctx);
  try {
    await mkdir(hostBase, { recursive: true });
  } catch (err) {
    throw new PreconditionError(
      `Cannot create the backup folder ${base} (${errnoCode(err) ?? String(err)}).`,
      'Set backup.dir in the answers file to a folder you can write to. Nothing was changed.',
    );
  }
  return BackupWriter.create(hostBase, backupId(ctx.now()));
}

/**
 * Backs up, before the first change, every file of the rules folder and every other file
 * the plan overwrites or deletes, checking each copy as it is made; records what the run
 * will create; then checks that nothing changed since the plan was made.
 */
export async function createBackup(ctx: RunContext, plan: Plan, location: Location): Promise<Backup> {
  for (const tree of plan.backupTrees) {
    if (isInsideWin(ctx.answers.backup.dir, tree)) {
      throw new PreconditionError(
        `backup.dir ${ctx.answers.backup.dir} is inside ${tree}, which Kerio upgrades replace.`,
        'Set backup.dir in the answers file to a folder outside the rules folder.',
      );
    }
  }
  const writer = await startBackup(ctx);
  const winDir = joinWin(ctx.answers.backup.dir, writer.id);
  try {
    return { dir: writer.dir, winDir, manifest: await fillBackup(ctx, plan, location, writer) };
  } catch (err) {
    await writer.discard();
    if (err instanceof PreconditionError) throw err;
    const code = errnoCode(err);
    throw new PreconditionError(
      `Making the backup in ${winDir} failed${code ? ` (${code})` : ''}: ${(err as Error).message}`,
      code === 'ENOSPC'
        ? 'Free some disk space and run again. Nothing was changed.'
        : 'Nothing was changed. Check that the backup folder is writable and the disk is not full.',
    );
  }
}

async function fillBackup(ctx: RunContext, plan: Plan, location: Location, writer: BackupWriter): Promise<Manifest> {
  const actions = plan.steps.flatMap((s) => s.actions);
  // What the run will leave at each path it writes (a sha256) or deletes (null), recorded
  // with that file's entry so an undo can tell the run's bytes from a later edit.
  const after = new Map<string, string | null>();
  const keepsState = new Set<string>();
  for (const a of actions) {
    if (a.kind === 'writeFile' && a.keepsState) keepsState.add(keyOf(a.path));
    if (a.kind === 'writeFile') after.set(keyOf(a.path), sha256(a.content));
    if (a.kind === 'deleteFile') after.set(keyOf(a.path), null);
  }
  // Only the files the plan read, writes or deletes are looked up again, so only their
  // entries are kept; every other entry goes straight to the manifest on disk.
  const lookedUp = new Map<string, ManifestFile | null>();
  for (const p of plan.readHashes.keys()) lookedUp.set(keyOf(p), null);
  for (const key of after.keys()) lookedUp.set(key, null);
  const head: ManifestHead = {
    toolVersion: ctx.toolVersion,
    id: writer.id,
    command: plan.command,
    createdAt: ctx.now().toISOString(),
    finishedAt: null,
    status: 'applying',
    target: { root: ctx.target.root, rulesDir: location.rulesDir, installDir: location.installDir, service: ctx.answers.kerio.service },
    answersFile: ctx.loaded.file,
    changes: plan.steps.filter((s) => s.status === 'change' && s.id !== 'backup').map((s) => s.id),
    ...(plan.dccLicense ? { dccLicense: plan.dccLicense } : {}),
  };
  {
    const madeDirs = new Set<string>();
    /** `p` is normalized; a path already backed up is skipped. */
    const add = (p: WinPath, hostPath: string): void => {
      const key = p.toLowerCase();
      const indexed = lookedUp.has(key);
      if (indexed && lookedUp.get(key)) return;
      const { backup, host: copy } = writer.copyHostPath(p);
      const parent = path.dirname(copy);
      if (!madeDirs.has(parent)) {
        mkdirSync(parent, { recursive: true });
        madeDirs.add(parent);
      }
      const { sha256: hash, size } = copyAndHash(p, hostPath, copy);
      const entry: ManifestFile = {
        path: p,
        backup,
        size,
        sha256: hash,
        ...(after.has(key) ? { after: after.get(key)! } : {}),
        ...(keepsState.has(key) ? { keepsState: true as const } : {}),
      };
      writer.add(entry);
      if (indexed) lookedUp.set(key, entry);
    };
    const skipped: string[] = [];
    for (const tree of plan.backupTrees) {
      const winTree = normalizeWin(tree);
      const prefix = winTree.endsWith('\\') ? winTree : `${winTree}\\`;
      await eachInSlices(walk(ctx.target.toHost(tree)), (entry) => {
        // Names read from a folder hold no separators or `..`, so joining needs no normalizing.
        const p = prefix + entry.relative.split(path.sep).join('\\');
        if (entry.kind === 'file') add(p, entry.hostPath);
        else skipped.push(`${p} (${entry.kind === 'link' ? 'a link or junction: not followed' : 'not a regular file'})`);
      });
    }
    const created: ManifestTail['created'] = [];
    for (const action of actions) {
      if (action.kind === 'mkdir') created.push({ type: 'dir', path: normalizeWin(action.path) });
      if (action.kind !== 'writeFile' && action.kind !== 'deleteFile') continue;
      const host = ctx.target.toHost(action.path);
      if ((await kindOf(host)) === 'file') add(normalizeWin(action.path), host);
      if (action.kind === 'writeFile' && !lookedUp.get(keyOf(action.path)))
        created.push({
          type: 'file',
          path: normalizeWin(action.path),
          sha256: after.get(keyOf(action.path))!,
          ...(action.keepsState ? { keepsState: true as const } : {}),
        });
    }
    const firewall: ManifestTail['firewall'] = [];
    for (const action of actions) {
      if (action.kind === 'firewall' && !firewall.some((f) => f.name === action.ruleName))
        firewall.push({ name: action.ruleName, before: action.before, after: action.after });
    }

    for (const [p, readHash] of plan.readHashes) {
      if ((lookedUp.get(keyOf(p))?.sha256 ?? null) !== readHash) {
        throw new PreconditionError(
          `${p} changed while this run was being planned (another program or person edited it).`,
          'Nothing was changed. Run the command again.',
        );
      }
    }
    const acls: NonNullable<ManifestTail['acls']> = [];
    for (const action of actions) {
      if (action.kind === 'secureFolder') acls.push({ path: action.path, before: action.before, after: SAFE_FOLDER_SDDL });
      if (action.kind === 'setAcl') acls.push({ path: action.path, before: action.before, after: action.sddl });
    }
    return writer.finish(head, { created, firewall, skipped, acls });
  }
}

/** Records in the manifest how the run ended, without reading its file list back. */
export async function markBackup(backup: Backup, status: ManifestStatus, finishedAt: string): Promise<void> {
  backup.manifest = await writeManifest(backup.dir, { ...backup.manifest, status, finishedAt });
}
