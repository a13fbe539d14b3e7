import { createReadStream, lstatSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { errnoCode } from '../errors.js';
import { faultPoint } from '../fault.js';
import { AtomicFile, atomicWrite, isLeftoverTemp, retryWhileLocked } from '../fs/atomicWrite.js';
import { isWindowsAbsolute, type WinPath } from '../target/target.js';
import { backupCopyPath, tampered, type FileList, type Manifest, type ManifestFile, type ManifestHead, type ManifestTail } from './manifest.js';

/*
 * The backup store's on-disk format, in one place (docs/backup-format.md). A backup is a folder
 * named by the UTC time it was made (20261202T033052Z, or 20261202T033052Z-2 within the same second):
 *   manifest.json  what the run is and did, without the file list (small, rewritten whole when the run ends);
 *   files.jsonl    one JSON object per line for each file copied, read a line at a time;
 *   files/         the copies, mirroring their Windows paths (files/C/Program Files/...);
 *   journal.jsonl  each step's start and finish.
 * A backup is built in `<id>.partial` and renamed to `<id>` only once its manifest is complete,
 * so a run killed while backing up leaves a `.partial` folder (it changed nothing) that the
 * next changing run clears. Version 0.1.0 wrote one manifest.json holding the file list
 * (schema 1): it is still read, and rewritten in this layout when its status changes.
 */
const MANIFEST = 'manifest.json';
const FILE_LIST = 'files.jsonl';
const COPIES = 'files';
const JOURNAL = 'journal.jsonl';
const PARTIAL = '.partial';
const SCHEMA = 2;
const ONE_FILE_SCHEMA = 1;
const ID = /^\d{8}T\d{6}Z(-\d+)?$/;

/** A file list held in memory: one built in a test, or one read from a one-file manifest. */
export function fileListOf(files: ManifestFile[]): FileList {
  return {
    count: files.length,
    bytes: files.reduce((sum, f) => sum + f.size, 0),
    stored: false,
    async *[Symbol.asyncIterator]() {
      yield* files;
    },
  };
}

/** A backup folder's name: the UTC time it was made, sortable as text. */
export function backupId(now: Date): string {
  return now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

function isBackupId(name: string): boolean {
  return ID.test(name);
}

/** Where a backup keeps its journal. */
export function journalPath(dir: string): string {
  return path.join(dir, JOURNAL);
}

/** The copy's place in the backup mirrors the (normalized) target path: files/C/Program Files/... */
function copyPathOf(p: WinPath): string {
  return [COPIES, p[0]!.toUpperCase(), ...p.slice(3).split('\\').filter(Boolean)].join('/');
}

// ---------------------------------------------------------------------------- writing

function manifestText(m: Manifest): string {
  const { files, created, firewall, skipped, acls, ...head } = m;
  return `${JSON.stringify({ schema: SCHEMA, tool: 'kerio-dcc', ...head, fileCount: files.count, fileBytes: files.bytes, created, firewall, skipped, ...(acls?.length ? { acls } : {}) }, null, 2)}\n`;
}

/** A backup being made: its copies and file list go into `<id>.partial`, renamed to `<id>` by finish. */
export class BackupWriter {
  private count = 0;
  private bytes = 0;
  private readonly list: AtomicFile;

  private constructor(
    readonly id: string,
    /** The folder the copies go to while the backup is made. */
    readonly building: string,
    /** Its name once complete. */
    readonly dir: string,
  ) {
    this.list = AtomicFile.create(path.join(building, FILE_LIST));
  }

  /**
   * Makes `<id>.partial` in `base` under a name after every one made in the same second:
   * `stamp`, else `stamp-2`, ... A name retention freed is not taken again, so the names
   * still sort in the order the runs ran (prune.ts's compareIds: the newest is rolled back first).
   */
  static async create(base: string, stamp: string): Promise<BackupWriter> {
    // One point however many names are tried, so a run numbers its points alike whatever second it starts in.
    faultPoint(`mkdir ${path.join(base, stamp)}${PARTIAL}`);
    let first = 1;
    for (const entry of await readdir(base).catch(() => [])) {
      const name = entry.endsWith(PARTIAL) ? entry.slice(0, -PARTIAL.length) : entry;
      const [id, n] = name.split('-');
      if (id === stamp && isBackupId(name)) first = Math.max(first, Number(n ?? 1) + 1);
    }
    for (let n = first; n < 100; n++) {
      const id = n === 1 ? stamp : `${stamp}-${n}`;
      const dir = path.join(base, id);
      try {
        lstatSync(dir);
        continue;
      } catch {
        // No backup by that name: take it.
      }
      try {
        await mkdir(dir + PARTIAL);
      } catch (err) {
        if (errnoCode(err) === 'EEXIST') continue;
        throw err;
      }
      try {
        return new BackupWriter(id, dir + PARTIAL, dir);
      } catch (err) {
        await rm(dir + PARTIAL, { recursive: true, force: true });
        throw err;
      }
    }
    throw new Error(`internal: could not find a free backup folder name in ${base}`);
  }

  /** Where the copy of `p` goes while the backup is made. */
  copyHostPath(p: WinPath): { backup: string; host: string } {
    const backup = copyPathOf(p);
    return { backup, host: backupCopyPath(this.building, backup) };
  }

  add(file: ManifestFile): void {
    this.count++;
    this.bytes += file.size;
    this.list.write(`${JSON.stringify(file)}\n`);
  }

  /** Writes the file list and the manifest, then puts the backup under its final name: from here on it is a backup. */
  async finish(head: ManifestHead, tail: ManifestTail): Promise<Manifest> {
    await this.list.commit();
    const manifest: Manifest = { ...head, ...tail, files: storedList(this.dir, this.count, this.bytes) };
    await atomicWrite(path.join(this.building, MANIFEST), Buffer.from(manifestText(manifest), 'utf8'));
    faultPoint(`backup in place ${this.dir}`);
    await retryWhileLocked(this.dir, () => rename(this.building, this.dir));
    return manifest;
  }

  /** Removes the unfinished backup. Never throws: what cannot be removed is cleared by the next changing run. */
  async discard(): Promise<void> {
    this.list.discard();
    await rm(this.building, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * Writes a backup's manifest again (a new status, when the run ended). A file list not yet in
 * files.jsonl (a one-file manifest, or one held in memory) is written there first, so the
 * backup ends in this layout; until manifest.json is replaced, the old one still reads.
 */
export async function writeManifest(dir: string, manifest: Manifest): Promise<Manifest> {
  let files = manifest.files;
  if (!files.stored) {
    const list = AtomicFile.create(path.join(dir, FILE_LIST));
    try {
      for await (const f of files) list.write(`${JSON.stringify(f)}\n`);
    } catch (err) {
      list.discard();
      throw err;
    }
    await list.commit();
    files = storedList(dir, files.count, files.bytes);
  }
  const written = { ...manifest, files };
  await atomicWrite(path.join(dir, MANIFEST), Buffer.from(manifestText(written), 'utf8'));
  return written;
}

// ---------------------------------------------------------------------------- reading

function parse<T>(dir: string, name: string, text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw tampered(dir, `${name} is not valid JSON`);
  }
}

function notReadable(dir: string): Error {
  return tampered(dir, `${MANIFEST} is not a kerio-dcc manifest of a version this tool reads`);
}

/** A file of the backup that is a link or junction is never followed: it would read what the backup does not hold. */
function refuseLinkOrMissing(dir: string, name: string): void {
  let link: boolean;
  try {
    link = lstatSync(path.join(dir, name)).isSymbolicLink();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw tampered(dir, `${name} is missing`);
    throw err;
  }
  if (link) throw tampered(dir, `${name} is a link: kerio-dcc never follows one`);
}

/** manifest.json as parsed, before it is checked. */
type StoredFields = ManifestHead & Partial<ManifestTail> & { schema?: unknown; tool?: unknown; fileCount?: unknown; fileBytes?: unknown; files?: unknown };

async function readRecord(
  dir: string,
): Promise<{ fields: ManifestHead & Partial<ManifestTail>; schema: unknown; fileCount: unknown; fileBytes: unknown; files: unknown }> {
  refuseLinkOrMissing(dir, MANIFEST);
  const { schema, tool, fileCount, fileBytes, files, ...fields } = parse<StoredFields>(dir, MANIFEST, await readFile(path.join(dir, MANIFEST), 'utf8'));
  const m = fields as ManifestHead;
  if (
    (schema !== SCHEMA && schema !== ONE_FILE_SCHEMA) ||
    tool !== 'kerio-dcc' ||
    typeof m.id !== 'string' ||
    typeof m.status !== 'string' ||
    !Array.isArray(m.changes) ||
    typeof m.target?.rulesDir !== 'string'
  ) {
    throw notReadable(dir);
  }
  return { fields, schema, fileCount, fileBytes, files };
}

function checkTail(dir: string, m: Partial<ManifestTail>): asserts m is ManifestTail {
  if (!Array.isArray(m.created) || !Array.isArray(m.firewall) || !Array.isArray(m.skipped)) throw notReadable(dir);
  for (const c of m.created) if (typeof c?.path !== 'string' || !isWindowsAbsolute(c.path)) throw tampered(dir, 'a created entry has no valid path');
  if (
    m.acls !== undefined &&
    (!Array.isArray(m.acls) ||
      m.acls.some((a) => typeof a?.path !== 'string' || !isWindowsAbsolute(a.path) || typeof a.before !== 'string' || typeof a.after !== 'string'))
  ) {
    throw tampered(dir, 'a permissions entry has no valid path or SDDL');
  }
}

function checkEntry(dir: string, f: ManifestFile): ManifestFile {
  if (typeof f?.path !== 'string' || !isWindowsAbsolute(f.path) || typeof f.sha256 !== 'string' || typeof f.size !== 'number')
    throw tampered(dir, `an entry has no valid path or hash`);
  backupCopyPath(dir, f.backup);
  return f;
}

/**
 * Bytes read from files.jsonl at a time. readline hands over every line of a chunk at once,
 * and lines waiting to be used survive V8's young-generation collections, which then grows it:
 * with 64 KB chunks a rollback of 10,000 files peaked 16 MB higher than with 16 KB ones.
 */
const LIST_CHUNK = 16 * 1024;

/** The entries of files.jsonl, each checked, read a line at a time. */
async function* storedEntries(dir: string): AsyncGenerator<ManifestFile> {
  refuseLinkOrMissing(dir, FILE_LIST);
  const input = createReadStream(path.join(dir, FILE_LIST), { encoding: 'utf8', highWaterMark: LIST_CHUNK });
  const lines = createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of lines) yield checkEntry(dir, parse<ManifestFile>(dir, FILE_LIST, line));
  } finally {
    lines.close();
    input.destroy();
  }
}

/**
 * A backup's file list on disk: each walk reads it again and checks every entry, so one
 * changed since it was first read cannot slip past the checks.
 */
function storedList(dir: string, count: number, bytes: number): FileList {
  return {
    count,
    bytes,
    stored: true,
    async *[Symbol.asyncIterator]() {
      let seen = 0;
      for await (const f of storedEntries(dir)) {
        seen++;
        yield f;
      }
      if (seen !== count) throw tampered(dir, `${FILE_LIST} changed while it was being read`);
    },
  };
}

/**
 * A manifest's head (what ran, when, and whether it finished) without its file list: every
 * command looks at the newest backup's head, and only a restore needs the list.
 */
export async function readManifestHead(dir: string): Promise<ManifestHead> {
  return (await readRecord(dir)).fields;
}

/**
 * Reads and checks a manifest: the backup folder holds only what kerio-dcc wrote, and a
 * manifest that names anything else is refused. The file list is checked in one pass and
 * stays on disk, walked again by each use, so memory stays flat however many files it names.
 */
export async function readManifest(dir: string): Promise<Manifest> {
  const { fields, schema, fileCount, fileBytes, files } = await readRecord(dir);
  checkTail(dir, fields);
  if (schema === ONE_FILE_SCHEMA) {
    if (!Array.isArray(files)) throw notReadable(dir);
    return { ...fields, files: fileListOf(files.map((f: ManifestFile) => checkEntry(dir, f))) };
  }
  if (typeof fileCount !== 'number' || typeof fileBytes !== 'number') throw notReadable(dir);
  let count = 0;
  let bytes = 0;
  for await (const f of storedEntries(dir)) {
    count++;
    bytes += f.size;
  }
  if (count !== fileCount || bytes !== fileBytes) throw tampered(dir, `${FILE_LIST} does not hold the ${fileCount} file(s) that ${MANIFEST} counts`);
  return { ...fields, files: storedList(dir, count, bytes) };
}

// ---------------------------------------------------------------------------- the backups folder

/** What a run stopped while backing up leaves: a `.partial` folder, or (by version 0.1.0) a backup folder with copies but no manifest or journal. */
async function interruptedBefore(base: string, name: string): Promise<boolean> {
  if (name.endsWith(PARTIAL)) return isBackupId(name.slice(0, -PARTIAL.length));
  if (!isBackupId(name)) return false;
  const inside = await readdir(path.join(base, name)).catch(() => null);
  return inside !== null && inside.every((n) => n === COPIES || isLeftoverTemp(n));
}

/** The backups in a host folder (real folders only, never a link), by name, in no particular order. */
export async function backupNames(base: string): Promise<string[]> {
  const entries = await readdir(base, { withFileTypes: true }).catch(() => []);
  const names: string[] = [];
  for (const e of entries) if (e.isDirectory() && isBackupId(e.name) && !(await interruptedBefore(base, e.name))) names.push(e.name);
  return names;
}

/**
 * Removes what runs stopped while backing up left (they changed nothing, so there is nothing
 * to undo); only a run holding the lock calls this. Returns the names removed.
 */
export async function clearInterruptedBackups(base: string): Promise<string[]> {
  const entries = await readdir(base, { withFileTypes: true }).catch(() => []);
  const cleared: string[] = [];
  for (const e of entries) {
    if (!e.isDirectory() || !(await interruptedBefore(base, e.name))) continue;
    faultPoint(`clear ${path.join(base, e.name)}`);
    await rm(path.join(base, e.name), { recursive: true, force: true });
    cleared.push(e.name);
  }
  return cleared;
}
