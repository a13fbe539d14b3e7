import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
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
 * Replaces a file atomically: the bytes go to a temp file in the same folder, are flushed,
 * then renamed over the target. Readers see the old file or the new one, never a mix.
 * The old file is never deleted first. Text given in pieces is written as UTF-8, piece by
 * piece, so a long text need not be held whole.
 */
export async function atomicWrite(hostPath: string, content: Buffer | Iterable<string>, options: RetryOptions = {}): Promise<void> {
  const temp = path.join(path.dirname(hostPath), `.${path.basename(hostPath)}${TEMP_INFIX}${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx');
  try {
    // writeFile on an open handle continues where the last write ended.
    if (Buffer.isBuffer(content)) await handle.writeFile(content);
    else for (const piece of content) await handle.writeFile(piece, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    faultPoint(`rename ${hostPath}`);
    await retryWhileLocked(hostPath, () => rename(temp, hostPath), options);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
}
