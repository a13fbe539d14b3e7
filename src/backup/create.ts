import { closeSync, mkdirSync, openSync, readSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { eachInSlices } from '../fs/slices.js';
import { PreconditionError, errnoCode } from '../errors.js';
import { faultPoint } from '../fault.js';
import type { RunContext } from '../model/context.js';
import type { Location } from '../detect/locate.js';
import type { Plan } from '../model/plan.js';
import { AtomicFile } from '../fs/atomicWrite.js';
import { CopyMismatchError, copyAndHashFile, kindOf, sha256, walk } from '../fs/files.js';
import { isInsideWin, joinWin, normalizeWin, type WinPath } from '../target/target.js';
import { SAFE_FOLDER_SDDL } from '../windows/acl.js';
import { createTrustedFolders } from '../trust/stateFolder.js';
import { FILES_FOLDER, MANIFEST_NAME, backupCopyPath, backupId, fileEntryText, manifestHeadText, manifestTailText, type Manifest, type ManifestFile, type ManifestHead, type ManifestStatus, type ManifestTail } from './manifest.js';

export interface Backup {
  /** Host path of the backup folder. */
  dir: string;
  /** The same folder as the target sees it. */
  winDir: WinPath;
  /**
   * The manifest but for its file list, which is only on disk: memory stays flat however
   * big the rules folder. `readManifest(dir)` reads the whole of it.
   */
  head: ManifestHead;
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

/** A manifest written while its backup is made: each file entry goes to disk as it comes. */
export class ManifestWriter {
  private count = 0;
  private readonly file: AtomicFile;

  constructor(dir: string, head: ManifestHead) {
    this.file = AtomicFile.create(path.join(dir, MANIFEST_NAME));
    this.file.write(manifestHeadText(head));
  }

  add(file: ManifestFile): void {
    this.file.write(fileEntryText(file, this.count++ === 0));
  }

  async finish(tail: ManifestTail): Promise<void> {
    this.file.write(manifestTailText(tail, this.count));
    await this.file.commit();
  }

  discard(): void {
    this.file.discard();
  }
}

/**
 * Replaces the head of a manifest this run wrote (its status, when it finished), copying
 * the file list and the tail unchanged: the list is never read back into memory. A
 * manifest that no longer starts with the head written is refused.
 */
export async function rewriteManifestHead(dir: string, written: ManifestHead, head: ManifestHead): Promise<void> {
  const target = path.join(dir, MANIFEST_NAME);
  const file = AtomicFile.create(target);
  try {
    const fd = openSync(target, 'r');
    try {
      const expected = Buffer.from(manifestHeadText(written), 'utf8');
      const chunk = Buffer.allocUnsafe(Math.max(expected.length, 64 * 1024));
      const got = readSync(fd, chunk, 0, expected.length, 0);
      if (got !== expected.length || !chunk.subarray(0, got).equals(expected)) throw new Error(`${target} was changed by something else since this run wrote it`);
      file.write(manifestHeadText(head));
      for (let at = got, n; (n = readSync(fd, chunk, 0, chunk.length, at)) > 0; at += n) file.write(chunk.subarray(0, n));
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    file.discard();
    throw err;
  }
  await file.commit();
}

function keyOf(p: WinPath): string {
  return normalizeWin(p).toLowerCase();
}

/** The copy's place in the backup mirrors the (normalized) target path: files/C/Program Files/... */
function mirrorOf(p: WinPath): string {
  return [FILES_FOLDER, p[0]!.toUpperCase(), ...p.slice(3).split('\\').filter(Boolean)].join('/');
}

async function makeBackupFolder(ctx: RunContext): Promise<{ id: string; dir: string; winDir: WinPath }> {
  const base = ctx.answers.backup.dir;
  const hostBase = ctx.target.toHost(base);
  // Normally done with the lock; a caller without one (a test, the wizard's own flow) gets the same.
  await createTrustedFolders(ctx);
  try {
    await mkdir(hostBase, { recursive: true });
  } catch (err) {
    throw new PreconditionError(`Cannot create the backup folder ${base} (${errnoCode(err) ?? String(err)}).`, 'Set backup.dir in the answers file to a folder you can write to. Nothing was changed.');
  }
  const stamp = backupId(ctx.now());
  // One point however many names are tried, so a run numbers its points alike whatever second it starts in.
  faultPoint(`mkdir ${path.join(hostBase, stamp)}`);
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
 * the plan overwrites or deletes, checking each copy as it is made; records what the run
 * will create; then checks that nothing changed since the plan was made.
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
  const actions = plan.steps.flatMap((s) => s.actions);
  // What the run will leave at each path it writes (a sha256) or deletes (null), recorded
  // with that file's entry so an undo can tell the run's bytes from a later edit.
  const after = new Map<string, string | null>();
  for (const a of actions) {
    if (a.kind === 'writeFile') after.set(keyOf(a.path), sha256(a.content));
    if (a.kind === 'deleteFile') after.set(keyOf(a.path), null);
  }
  // Only the files the plan read, writes or deletes are looked up again, so only their
  // entries are kept; every other entry goes straight to the manifest on disk.
  const lookedUp = new Map<string, ManifestFile | null>();
  for (const p of plan.readHashes.keys()) lookedUp.set(keyOf(p), null);
  for (const key of after.keys()) lookedUp.set(key, null);
  const head: ManifestHead = {
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
  };
  const manifest = new ManifestWriter(folder.dir, head);
  try {
    const madeDirs = new Set<string>();
    /** `p` is normalized; a path already backed up is skipped. */
    const add = (p: WinPath, hostPath: string): void => {
      const key = p.toLowerCase();
      const indexed = lookedUp.has(key);
      if (indexed && lookedUp.get(key)) return;
      const backup = mirrorOf(p);
      const copy = backupCopyPath(folder.dir, backup);
      const parent = path.dirname(copy);
      if (!madeDirs.has(parent)) {
        mkdirSync(parent, { recursive: true });
        madeDirs.add(parent);
      }
      const { sha256: hash, size } = copyAndHash(p, hostPath, copy);
      const entry: ManifestFile = { path: p, backup, size, sha256: hash, ...(after.has(key) ? { after: after.get(key)! } : {}) };
      manifest.add(entry);
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
      if (action.kind === 'writeFile' && !lookedUp.get(keyOf(action.path))) created.push({ type: 'file', path: normalizeWin(action.path), sha256: after.get(keyOf(action.path))! });
    }
    const firewall: ManifestTail['firewall'] = [];
    for (const action of actions) {
      if (action.kind === 'firewall' && !firewall.some((f) => f.name === action.ruleName)) firewall.push({ name: action.ruleName, before: action.before, after: action.after });
    }

    for (const [p, readHash] of plan.readHashes) {
      if ((lookedUp.get(keyOf(p))?.sha256 ?? null) !== readHash) {
        throw new PreconditionError(`${p} changed while this run was being planned (another program or person edited it).`, 'Nothing was changed. Run the command again.');
      }
    }
    const acls: NonNullable<ManifestTail['acls']> = [];
    for (const action of actions) {
      if (action.kind === 'secureFolder') acls.push({ path: action.path, before: action.before, after: SAFE_FOLDER_SDDL });
      if (action.kind === 'setAcl') acls.push({ path: action.path, before: action.before, after: action.sddl });
    }
    await manifest.finish({ created, firewall, skipped, acls });
  } catch (err) {
    manifest.discard();
    throw err;
  }
  return { dir: folder.dir, winDir: folder.winDir, head };
}

/** Records in the manifest how the run ended, without reading its file list back. */
export async function markBackup(backup: Backup, status: ManifestStatus, finishedAt: string): Promise<void> {
  const head = { ...backup.head, status, finishedAt };
  await rewriteManifestHead(backup.dir, backup.head, head);
  backup.head = head;
}

/** Writes a whole manifest (one read back, with a new status), walking its file list from disk. */
export async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  const writer = new ManifestWriter(dir, manifest);
  try {
    for (const f of manifest.files) writer.add(f);
  } catch (err) {
    writer.discard();
    throw err;
  }
  await writer.finish(manifest);
}
