import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from '../errors.js';
import { faultPoint } from '../fault.js';

/** Codes Windows gives while another process (antivirus, indexer, Kerio) holds the file. */
const LOCKED = new Set(['EPERM', 'EBUSY', 'EACCES']);

export interface RetryOptions {
  /** Total time to keep retrying a locked file, in ms. */
  budgetMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class LockedFileError extends Error {
  constructor(
    readonly hostPath: string,
    readonly code: string,
  ) {
    super(`${hostPath} stayed locked (${code}) while replacing it; another program (antivirus, an indexer, Kerio) holds it open`);
    this.name = 'LockedFileError';
  }
}

/** Retries an operation that fails because a file is locked, with backoff, for a bounded time. */
export async function retryWhileLocked<T>(hostPath: string, op: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const budget = options.budgetMs ?? 10_000;
  const sleep = options.sleep ?? defaultSleep;
  let waited = 0;
  let delay = 50;
  for (;;) {
    try {
      return await op();
    } catch (err) {
      const code = errnoCode(err);
      if (!code || !LOCKED.has(code)) throw err;
      if (waited >= budget) throw new LockedFileError(hostPath, code);
      await sleep(delay);
      waited += delay;
      delay = Math.min(delay * 2, 1000);
    }
  }
}

const TEMP_INFIX = '.kerio-dcc-';
const TEMP_NAME = /^\..+\.kerio-dcc-[0-9a-f]{8}\.tmp$/;

/** A temp file atomicWrite leaves only when the process is killed between writing and renaming. */
export function isLeftoverTemp(name: string): boolean {
  return TEMP_NAME.test(name);
}

/**
 * A file replaced atomically, written in pieces as they come: the bytes go to a temp file in
 * the same folder, and `commit` flushes it to disk and renames it over the target, so readers
 * see the old file or the new one, never a mix. The old file is never deleted first, and
 * `discard` (or a crash) leaves it untouched. Writes are synchronous, like the file loops
 * they sit in (fs/files.ts); text is written as UTF-8, gathered in one reused buffer, so
 * however many pieces pass, nothing is kept or allocated per piece.
 */
export class AtomicFile {
  private readonly buffer = Buffer.allocUnsafe(64 * 1024);
  private used = 0;
  private fd: number | null;

  private constructor(
    readonly hostPath: string,
    private readonly temp: string,
  ) {
    faultPoint(`temp create ${hostPath}`);
    this.fd = openSync(temp, 'wx');
  }

  static create(hostPath: string): AtomicFile {
    return new AtomicFile(hostPath, path.join(path.dirname(hostPath), `.${path.basename(hostPath)}${TEMP_INFIX}${randomBytes(4).toString('hex')}.tmp`));
  }

  write(piece: string | Buffer): void {
    const fd = this.open();
    const bytes = typeof piece === 'string' ? Buffer.byteLength(piece, 'utf8') : piece.length;
    if (bytes > this.buffer.length - this.used) this.flush();
    if (bytes > this.buffer.length) writeAll(fd, typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece);
    else if (typeof piece === 'string') this.used += this.buffer.write(piece, this.used, 'utf8');
    else this.used += piece.copy(this.buffer, this.used);
  }

  async commit(options: RetryOptions = {}): Promise<void> {
    const fd = this.open();
    try {
      this.flush();
      faultPoint(`fsync ${this.hostPath}`);
      fsyncSync(fd);
    } catch (err) {
      this.discard();
      throw err;
    }
    closeSync(fd);
    this.fd = null;
    try {
      faultPoint(`rename ${this.hostPath}`);
      await retryWhileLocked(this.hostPath, () => rename(this.temp, this.hostPath), options);
    } catch (err) {
      this.discard();
      throw err;
    }
  }

  /**
   * Drops the temp file; the target stays as it was. Never throws, so the error that led
   * here is the one reported: a temp file that cannot be removed (held by antivirus) is
   * left, and rollback clears such leftovers from the folders a run changed.
   */
  discard(): void {
    try {
      if (this.fd !== null) closeSync(this.fd);
    } catch {
      // Closing can only fail on a descriptor already gone.
    }
    this.fd = null;
    try {
      rmSync(this.temp, { force: true });
    } catch {
      // See above: left for the next rollback.
    }
  }

  private open(): number {
    if (this.fd === null) throw new Error(`internal: ${this.hostPath} was already committed or discarded`);
    return this.fd;
  }

  private flush(): void {
    faultPoint(`temp write ${this.hostPath}`);
    writeAll(this.open(), this.buffer.subarray(0, this.used));
    this.used = 0;
  }
}

function writeAll(fd: number, bytes: Buffer): void {
  for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, bytes.length - done);
}

/** Replaces a file atomically with `content`. */
export async function atomicWrite(hostPath: string, content: Buffer, options: RetryOptions = {}): Promise<void> {
  const file = AtomicFile.create(hostPath);
  try {
    file.write(content);
  } catch (err) {
    file.discard();
    throw err;
  }
  await file.commit(options);
}
