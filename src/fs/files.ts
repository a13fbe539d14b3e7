import { createHash } from 'node:crypto';
import { closeSync, openSync, opendirSync, readSync, writeSync } from 'node:fs';
import { lstat, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from '../errors.js';

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

let shared: Buffer | undefined;

/**
 * The one buffer every read below goes through: memory stays flat however many files pass.
 * Sharing it is safe because the readers are synchronous and never interleave.
 */
function scratchBuffer(): Buffer {
  return (shared ??= Buffer.allocUnsafe(256 * 1024));
}

/*
 * The per-file readers below are synchronous on purpose. Rule files are small, and one
 * direct call is several times faster than a trip through Node's thread pool per open, read
 * and close: copying, hashing and verifying 10,000 rule files took 0.7 s this way against
 * 1.3 to 3.6 s through the pool, and it allocates nothing per call. Loops over many files
 * give the event loop its turn between files with `eachInSlices` (fs/slices.ts).
 */

/** Reads an open file to its end through `scratch`, handing each piece and its offset to `take`; returns the size. */
function readThrough(fd: number, scratch: Buffer, take: (piece: Buffer, position: number) => void): number {
  let size = 0;
  for (;;) {
    const bytesRead = readSync(fd, scratch, 0, scratch.length, null);
    if (bytesRead === 0) return size;
    take(scratch.subarray(0, bytesRead), size);
    size += bytesRead;
  }
}

/** Opens a file, hands its descriptor to `use`, and closes it whatever happens. */
export function withOpen<T>(hostPath: string, flags: string, use: (fd: number) => T): T {
  const fd = openSync(hostPath, flags);
  try {
    return use(fd);
  } finally {
    closeSync(fd);
  }
}

/** Hashes a file through a reused buffer: no per-file allocation, whatever the file's size. */
export function sha256File(hostPath: string, scratch: Buffer = scratchBuffer()): string {
  const hash = createHash('sha256');
  withOpen(hostPath, 'r', (fd) => readThrough(fd, scratch, (piece) => hash.update(piece)));
  return hash.digest('hex');
}

/**
 * Whether a file holds `needle` (ASCII), read through a reused buffer so that scanning a
 * large rules folder allocates nothing per file. A match across two reads is found too.
 */
export function fileContains(hostPath: string, needle: string, scratch: Buffer = scratchBuffer()): boolean {
  const wanted = Buffer.from(needle, 'latin1');
  const carry = wanted.length - 1;
  return withOpen(hostPath, 'r', (fd) => {
    let kept = 0;
    for (;;) {
      const bytesRead = readSync(fd, scratch, kept, scratch.length - kept, null);
      if (bytesRead === 0) return false;
      const filled = kept + bytesRead;
      if (scratch.subarray(0, filled).includes(wanted)) return true;
      kept = Math.min(carry, filled);
      scratch.copy(scratch, 0, filled - kept, filled);
    }
  });
}

export class CopyMismatchError extends Error {
  constructor(readonly copy: string) {
    super(`the copy ${copy} does not read back as written`);
    this.name = 'CopyMismatchError';
  }
}

/**
 * Copies a file and hashes it in the same pass (each byte read once), through a reused
 * buffer, and reads every piece of the copy back to compare it with the bytes that were
 * hashed: a copy that passes holds exactly what its sha256 describes, checked without
 * hashing it a second time. Never overwrites `to`.
 */
export function copyAndHashFile(from: string, to: string, scratch: Buffer = scratchBuffer()): { sha256: string; size: number } {
  const hash = createHash('sha256');
  const size = withOpen(from, 'r', (source) =>
    withOpen(to, 'wx+', (copy) =>
      readThrough(source, scratch, (piece, position) => {
        hash.update(piece);
        for (let done = 0; done < piece.length;) done += writeSync(copy, piece, done, piece.length - done, position + done);
        if (!readsBackAs(copy, piece, position)) throw new CopyMismatchError(to);
      }),
    ),
  );
  return { sha256: hash.digest('hex'), size };
}

let checkShared: Buffer | undefined;

/** Whether the open file holds exactly `expected` at `position`. */
export function readsBackAs(fd: number, expected: Buffer, position: number): boolean {
  if (checkShared === undefined || checkShared.length < expected.length) checkShared = Buffer.allocUnsafe(Math.max(expected.length, 256 * 1024));
  let filled = 0;
  while (filled < expected.length) {
    const bytesRead = readSync(fd, checkShared, filled, expected.length - filled, position + filled);
    if (bytesRead === 0) return false;
    filled += bytesRead;
  }
  return checkShared.subarray(0, filled).equals(expected);
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

export function sha256IfExists(hostPath: string): string | null {
  try {
    return sha256File(hostPath);
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
 * junctions are reported, never followed, so a walk cannot leave the folder. Entries are
 * produced as they are read, so a huge folder is never held whole.
 */
export function* walk(hostDir: string, relative = ''): Generator<WalkEntry> {
  const subdirs: string[] = [];
  const dir = opendirSync(path.join(hostDir, relative));
  try {
    for (let entry = dir.readSync(); entry !== null; entry = dir.readSync()) {
      const rel = relative === '' ? entry.name : path.join(relative, entry.name);
      if (entry.isDirectory()) subdirs.push(rel);
      else yield { relative: rel, hostPath: path.join(hostDir, rel), kind: entry.isSymbolicLink() ? 'link' : entry.isFile() ? 'file' : 'other' };
    }
  } finally {
    dir.closeSync();
  }
  subdirs.sort();
  for (const sub of subdirs) yield* walk(hostDir, sub);
}
