import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, open, opendir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from '../errors.js';

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Hashes a file: small ones in one read, larger ones streamed, so memory stays flat whatever the size. */
export async function sha256File(hostPath: string): Promise<string> {
  const handle = await open(hostPath, 'r');
  try {
    if ((await handle.stat()).size <= 1024 * 1024) return sha256(await handle.readFile());
  } finally {
    await handle.close();
  }
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(hostPath)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The file's bytes, or null when it does not exist. */
export async function readIfExists(hostPath: string): Promise<Buffer | null> {
  try {
    return await readFile(hostPath);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return null;
    throw err;
  }
}

export async function sha256IfExists(hostPath: string): Promise<string | null> {
  try {
    return await sha256File(hostPath);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return null;
    throw err;
  }
}

export type Kind = 'file' | 'dir' | 'link' | 'other' | null;

/** What is at a path, without following a final symlink or junction. */
export async function kindOf(hostPath: string): Promise<Kind> {
  try {
    const s = await lstat(hostPath);
    if (s.isSymbolicLink()) return 'link';
    if (s.isDirectory()) return 'dir';
    if (s.isFile()) return 'file';
    return 'other';
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return null;
    throw err;
  }
}

export async function sizeOf(hostPath: string): Promise<number | null> {
  try {
    return (await stat(hostPath)).size;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw err;
  }
}

export interface WalkEntry {
  /** Path relative to the walked folder, with the host's separators. */
  relative: string;
  hostPath: string;
  kind: 'file' | 'link' | 'other';
}

/**
 * Every entry below a folder, depth first, one folder handle open at a time. Links and
 * junctions are reported, never followed, so a walk cannot leave the folder.
 */
export async function* walk(hostDir: string, relative = ''): AsyncGenerator<WalkEntry> {
  const dir = await opendir(path.join(hostDir, relative));
  const subdirs: string[] = [];
  for await (const entry of dir) {
    const rel = relative === '' ? entry.name : path.join(relative, entry.name);
    if (entry.isDirectory()) subdirs.push(rel);
    else if (entry.isSymbolicLink()) yield { relative: rel, hostPath: path.join(hostDir, rel), kind: 'link' };
    else if (entry.isFile()) yield { relative: rel, hostPath: path.join(hostDir, rel), kind: 'file' };
    else yield { relative: rel, hostPath: path.join(hostDir, rel), kind: 'other' };
  }
  subdirs.sort();
  for (const sub of subdirs) yield* walk(hostDir, sub);
}
