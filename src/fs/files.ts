import { createHash } from 'node:crypto';
import { lstat, open, opendir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from '../errors.js';

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A buffer to read through; one per concurrent worker keeps memory flat however many files pass. */
export function scratchBuffer(): Buffer {
  return Buffer.allocUnsafe(256 * 1024);
}

/** Hashes a file through a reused buffer: no per-file allocation, whatever the file's size. */
export async function sha256File(hostPath: string, scratch: Buffer = scratchBuffer()): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(hostPath, 'r');
  try {
    for (;;) {
      const { bytesRead } = await handle.read(scratch, 0, scratch.length, null);
      if (bytesRead === 0) break;
      hash.update(scratch.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/**
 * Whether a file holds `needle` (ASCII), read through a reused buffer so that scanning a
 * large rules folder allocates nothing per file. A match across two reads is found too.
 */
export async function fileContains(hostPath: string, needle: string, scratch: Buffer): Promise<boolean> {
  const wanted = Buffer.from(needle, 'latin1');
  const carry = wanted.length - 1;
  const handle = await open(hostPath, 'r');
  try {
    let kept = 0;
    for (;;) {
      const { bytesRead } = await handle.read(scratch, kept, scratch.length - kept, null);
      if (bytesRead === 0) return false;
      const filled = kept + bytesRead;
      if (scratch.subarray(0, filled).includes(wanted)) return true;
      kept = Math.min(carry, filled);
      scratch.copy(scratch, 0, filled - kept, filled);
    }
  } finally {
    await handle.close();
  }
}

/** Copies a file and hashes it in the same pass (each byte read once), through a reused buffer. */
export async function copyAndHashFile(from: string, to: string, scratch: Buffer): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  const source = await open(from, 'r');
  try {
    const copy = await open(to, 'wx');
    try {
      for (;;) {
        const { bytesRead } = await source.read(scratch, 0, scratch.length, null);
        if (bytesRead === 0) break;
        hash.update(scratch.subarray(0, bytesRead));
        await copy.write(scratch, 0, bytesRead);
        size += bytesRead;
      }
    } finally {
      await copy.close();
    }
  } finally {
    await source.close();
  }
  return { sha256: hash.digest('hex'), size };
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
