import { closeSync, fstatSync, lstatSync, openSync, readSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { PreconditionError, errnoCode } from '../errors.js';
import { withOpen } from '../fs/files.js';
import { eachInSlices } from '../fs/slices.js';
import { isInsideWin, isWindowsAbsolute, normalizeWin, type WinPath } from '../target/target.js';
import type { FirewallRule } from '../windows/firewall.js';
import { isWatchPath } from '../trust/watchFiles.js';

export const MANIFEST_NAME = 'manifest.json';
export const FILES_FOLDER = 'files';

export interface ManifestFile {
  path: WinPath;
  /** Where the copy is, relative to the backup folder, with forward slashes. */
  backup: string;
  size: number;
  sha256: string;
  /** What the run left there: a sha256, null when it deleted the file; absent when it did not mean to touch it. */
  after?: string | null;
}

export interface ManifestCreated {
  type: 'dir' | 'file';
  path: WinPath;
  /** For files: the bytes the run wrote, so an undo can tell our file from a later one. */
  sha256?: string;
}

export interface ManifestFirewall {
  name: string;
  before: FirewallRule[];
  after: FirewallRule[];
}

/** A folder's owner and DACL (SDDL) before and after a run changed them (backups --secure). */
export interface ManifestAcl {
  path: WinPath;
  before: string;
  after: string;
}

export type ManifestStatus = 'applying' | 'complete' | 'restored' | 'restore-failed';

export interface Manifest {
  schema: 1;
  tool: 'kerio-dcc';
  toolVersion: string;
  id: string;
  command: string;
  createdAt: string;
  finishedAt: string | null;
  status: ManifestStatus;
  target: { root: string | null; rulesDir: WinPath; installDir: WinPath; service: string };
  answersFile: string | null;
  /** Step ids that change something in this run. */
  changes: string[];
  /** Read from disk each time it is walked, so a backup of any size is never held whole. */
  files: FileList;
  created: ManifestCreated[];
  firewall: ManifestFirewall[];
  /** Files below the rules folder that could not be backed up (links are never followed). */
  skipped: string[];
  /** Folder permissions the run changed; absent in manifests of runs that changed none. */
  acls?: ManifestAcl[];
}

/** A manifest's files, walked in order as often as needed. */
export interface FileList extends Iterable<ManifestFile> {
  readonly count: number;
  /** Their total size. */
  readonly bytes: number;
}

/** A file list held in memory: one built in a test, or one read from a manifest laid out otherwise. */
export function fileListOf(files: ManifestFile[]): FileList {
  return { count: files.length, bytes: files.reduce((sum, f) => sum + f.size, 0), [Symbol.iterator]: () => files[Symbol.iterator]() };
}

/** The fields before the file list: everything known before the first file is backed up. */
export type ManifestHead = Omit<Manifest, 'files' | 'created' | 'firewall' | 'skipped' | 'acls'>;
/** The fields after it: what is learned while backing up. */
export type ManifestTail = Pick<Manifest, 'created' | 'firewall' | 'skipped' | 'acls'>;

/*
 * The layout of manifest.json, in one place: the head, the file list, then the tail, exactly
 * as JSON.stringify(manifest, null, 2) lays them out. The file list comes between, so a
 * backup of a big rules folder writes each entry as it is made and never holds the list,
 * and the status in the head can be updated by copying everything after it unchanged.
 */

export function manifestHeadText(manifest: ManifestHead): string {
  const { files: _f, created: _c, firewall: _w, skipped: _s, acls: _a, ...head } = manifest as Manifest;
  return `${JSON.stringify(head, null, 2).slice(0, -'\n}'.length)},\n  "files": [`;
}

export function fileEntryText(file: ManifestFile, first: boolean): string {
  return `${first ? '' : ','}\n    ${JSON.stringify(file, null, 2).replace(/\n/g, '\n    ')}`;
}

export function manifestTailText(tail: ManifestTail, fileCount: number): string {
  const { created, firewall, skipped, acls } = tail;
  return `${fileCount ? '\n  ' : ''}],\n${JSON.stringify({ created, firewall, skipped, ...(acls?.length ? { acls } : {}) }, null, 2).slice('{\n'.length)}\n`;
}

/** A backup folder's name: the UTC time it was made, sortable as text. */
export function backupId(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

function tampered(dir: string, why: string): PreconditionError {
  return new PreconditionError(
    `The backup at ${dir} cannot be trusted: ${why}.`,
    'Nothing was changed. Use another backup (kerio-dcc backups --verify lists which are intact).',
  );
}

/** A path from a manifest that stays inside the backup folder. */
export function backupCopyPath(dir: string, relative: string): string {
  if (relative === '' || relative.includes('\\') || relative.split('/').some((part) => part === '..' || part === '') || path.isAbsolute(relative) || /^[A-Za-z]:/.test(relative)) {
    throw tampered(dir, `the copy "${relative}" would lie outside the backup folder`);
  }
  return path.join(dir, ...relative.split('/'));
}

function readJson<T = Manifest>(dir: string, text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw tampered(dir, `${MANIFEST_NAME} is not valid JSON`);
  }
}

function notReadable(dir: string): PreconditionError {
  return tampered(dir, `${MANIFEST_NAME} is not a kerio-dcc manifest of a version this tool reads`);
}

function checkHead(dir: string, m: ManifestHead): void {
  if (m?.schema !== 1 || m.tool !== 'kerio-dcc' || typeof m.id !== 'string' || typeof m.status !== 'string' || !Array.isArray(m.changes) || typeof m.target?.rulesDir !== 'string') {
    throw notReadable(dir);
  }
}

function checkTail(dir: string, m: Partial<ManifestTail>): asserts m is ManifestTail {
  if (!Array.isArray(m.created) || !Array.isArray(m.firewall) || !Array.isArray(m.skipped)) throw notReadable(dir);
  for (const c of m.created) if (typeof c?.path !== 'string' || !isWindowsAbsolute(c.path)) throw tampered(dir, 'a created entry has no valid path');
  if (m.acls !== undefined && (!Array.isArray(m.acls) || m.acls.some((a) => typeof a?.path !== 'string' || !isWindowsAbsolute(a.path) || typeof a.before !== 'string' || typeof a.after !== 'string'))) {
    throw tampered(dir, 'a permissions entry has no valid path or SDDL');
  }
}

function checkEntry(dir: string, f: ManifestFile): ManifestFile {
  if (typeof f?.path !== 'string' || !isWindowsAbsolute(f.path) || typeof f.sha256 !== 'string' || typeof f.size !== 'number') throw tampered(dir, `an entry has no valid path or hash`);
  backupCopyPath(dir, f.backup);
  return f;
}

function missing(dir: string, err: unknown): never {
  if (errnoCode(err) === 'ENOENT') throw tampered(dir, `${MANIFEST_NAME} is missing`);
  throw err;
}

/** A manifest that is a link or junction is never followed: it would read what the backup does not hold. */
function refuseLink(dir: string): void {
  let link = false;
  try {
    link = lstatSync(path.join(dir, MANIFEST_NAME)).isSymbolicLink();
  } catch {
    // Missing: reported by the read that follows.
  }
  if (link) throw tampered(dir, `${MANIFEST_NAME} is a link: kerio-dcc never follows one`);
}

function withManifestOpen<T>(dir: string, use: (fd: number) => T): T {
  refuseLink(dir);
  try {
    return withOpen(path.join(dir, MANIFEST_NAME), 'r', use);
  } catch (err) {
    missing(dir, err);
  }
}

/** The line that ends a manifest's head: JSON strings hold no raw line break, so only the layout makes it. */
const HEAD_END = Buffer.from('\n  "files": [');
/** A head is a few hundred bytes; one read of this much finds its end. */
const HEAD_READ = 64 * 1024;

/** The head, and where the file list starts; null for a manifest not laid out as kerio-dcc writes it. */
function headOf(dir: string): { head: ManifestHead; listStart: number } | null {
  const start = withManifestOpen(dir, (fd) => {
    const buffer = Buffer.allocUnsafe(HEAD_READ);
    return buffer.subarray(0, readSync(fd, buffer, 0, HEAD_READ, 0));
  });
  const end = start.indexOf(HEAD_END);
  if (end < 1 || start[end - 1] !== 0x2c /* , */) return null;
  const head = readJson<ManifestHead>(dir, `${start.subarray(0, end - 1).toString('utf8')}\n}`);
  checkHead(dir, head);
  return { head, listStart: end + HEAD_END.length };
}

const NOTHING = Buffer.alloc(0);

/**
 * The lines of an open file from byte `at` on, each with the offset where it starts, read
 * in chunks through one buffer. A line may be a view of that buffer: use it before asking
 * for the next.
 */
function* linesFrom(fd: number, at: number): Generator<{ line: Buffer; at: number }> {
  const chunk = Buffer.allocUnsafe(64 * 1024);
  let carry = NOTHING;
  let lineAt = at;
  for (let chunkAt = at, n; (n = readSync(fd, chunk, 0, chunk.length, chunkAt)) > 0; chunkAt += n) {
    let from = 0;
    for (let nl = chunk.indexOf(0x0a, from); nl >= 0 && nl < n; nl = chunk.indexOf(0x0a, from)) {
      const piece = chunk.subarray(from, nl);
      yield { line: carry.length ? Buffer.concat([carry, piece]) : piece, at: lineAt };
      carry = NOTHING;
      from = nl + 1;
      lineAt = chunkAt + from;
    }
    carry = Buffer.concat([carry, chunk.subarray(from, n)]);
  }
  if (carry.length) yield { line: carry, at: lineAt };
}

const ENTRY_OPEN = '    {';
const ENTRY_CLOSE = new Set(['    }', '    },']);
const LIST_CLOSE = new Set(['  ]', '  ],', ']', '],']);

/**
 * The entries of a manifest's file list, each checked, read a line at a time from
 * `listStart` (just after `"files": [`); `end.at` is set to where the list's closing `]`
 * line starts. Anything not in the layout kerio-dcc writes is refused.
 */
function* storedEntries(dir: string, listStart: number, end: { at: number }): Generator<ManifestFile> {
  let fd: number;
  try {
    fd = openSync(path.join(dir, MANIFEST_NAME), 'r');
  } catch (err) {
    missing(dir, err);
  }
  const notLayout = () => tampered(dir, `the file list in ${MANIFEST_NAME} is not laid out as kerio-dcc writes it`);
  try {
    let entry: string[] | null = null;
    let first = true;
    for (const { line: bytes, at } of linesFrom(fd, listStart)) {
      const line = bytes.toString('utf8');
      if (first) {
        // The rest of the `"files": [` line: empty before the first entry, or `]` closing an empty list.
        first = false;
        if (line === '') continue;
        if (!LIST_CLOSE.has(line)) throw notLayout();
        end.at = at;
        return;
      }
      if (entry) {
        entry.push(line);
        if (ENTRY_CLOSE.has(line)) {
          entry[entry.length - 1] = '    }';
          const text = entry.join('\n');
          entry = null;
          yield checkEntry(dir, readJson<ManifestFile>(dir, text));
        }
      } else if (line === ENTRY_OPEN) {
        entry = [line];
      } else if (LIST_CLOSE.has(line)) {
        end.at = at;
        return;
      } else {
        throw notLayout();
      }
    }
    throw notLayout();
  } finally {
    closeSync(fd);
  }
}

/** What follows the file list: its closing `]`, then the tail's fields (none in an earlier layout that put the list last). */
function tailFrom(dir: string, at: number): Partial<ManifestTail> {
  const text = withManifestOpen(dir, (fd) => {
    const rest = Buffer.alloc(Math.max(0, fstatSync(fd).size - at));
    let got = 0;
    for (let n; got < rest.length && (n = readSync(fd, rest, got, rest.length - got, at + got)) > 0; ) got += n;
    return rest.subarray(0, got).toString('utf8');
  });
  const afterList = text.trimStart().slice(1);
  return readJson<Partial<ManifestTail>>(dir, `{${afterList.startsWith(',') ? afterList.slice(1) : afterList}`);
}

/**
 * A manifest's file list on disk: each walk reads it again, a line at a time, and checks
 * every entry, so one changed since it was first read cannot slip past the checks.
 */
function storedList(dir: string, listStart: number, count: number, bytes: number): FileList {
  return {
    count,
    bytes,
    *[Symbol.iterator]() {
      let seen = 0;
      for (const f of storedEntries(dir, listStart, { at: -1 })) {
        seen++;
        yield f;
      }
      if (seen !== count) throw tampered(dir, `${MANIFEST_NAME} changed while it was being read`);
    },
  };
}

/** A manifest laid out otherwise (by hand, or compact): read whole, as before the list was streamed. */
async function wholeManifest(dir: string): Promise<Manifest> {
  refuseLink(dir);
  const m = readJson<Omit<Manifest, 'files'> & { files: unknown }>(dir, await readFile(path.join(dir, MANIFEST_NAME), 'utf8').catch((err: unknown) => missing(dir, err)));
  checkHead(dir, m);
  checkTail(dir, m);
  if (!Array.isArray(m.files)) throw notReadable(dir);
  return { ...m, files: fileListOf(m.files.map((f: ManifestFile) => checkEntry(dir, f))) };
}

/**
 * Reads and checks a manifest: the backup folder holds only what kerio-dcc wrote, and a
 * manifest that names anything else is refused. The file list is checked in one pass and
 * stays on disk, walked again by each use, so memory stays flat however many files it names.
 */
export async function readManifest(dir: string): Promise<Manifest> {
  const found = headOf(dir);
  if (!found) return wholeManifest(dir);
  let count = 0;
  let bytes = 0;
  const end = { at: -1 };
  await eachInSlices(storedEntries(dir, found.listStart, end), (f) => {
    count++;
    bytes += f.size;
  });
  const rest: ManifestHead & Partial<ManifestTail> = { ...found.head, ...tailFrom(dir, end.at) };
  checkTail(dir, rest);
  return { ...rest, files: storedList(dir, found.listStart, count, bytes) };
}

/**
 * A manifest's head (what ran, when, and whether it finished) without reading its file list:
 * every command looks at the newest backup's head, and only a restore needs the list.
 */
export async function readManifestHead(dir: string): Promise<ManifestHead> {
  return headOf(dir)?.head ?? (await wholeManifest(dir));
}

/**
 * The folders a manifest may name: the rules folder, `.spamassassin` profile folders
 * with what is in them, and the watch task's files in the state folder. Anything else (`..`, another drive, a system file) is refused.
 */
export function checkManifestPaths(dir: string, m: Manifest, rulesDir: WinPath, systemRoot: WinPath): void {
  const systemDrive = systemRoot.slice(0, 2).toLowerCase();
  if (normalizeWin(m.target.rulesDir).toLowerCase() !== normalizeWin(rulesDir).toLowerCase()) {
    throw new PreconditionError(
      `The backup at ${dir} was made for the rules folder ${m.target.rulesDir}, but this server's is ${rulesDir}.`,
      'Roll back on the server the backup was made on, or set kerio.rules_dir in the answers file.',
    );
  }
  const createdDirs = m.created.filter((c) => c.type === 'dir').map((c) => normalizeWin(c.path));
  const allowed = (p: WinPath): boolean => {
    const n = normalizeWin(p);
    if (n !== p.replace(/\//g, '\\').replace(/\\$/, '')) return false; // '..' or '.' inside the path
    if (isInsideWin(n, rulesDir) || isWatchPath(n)) return true;
    const parts = n.split('\\');
    const profileAt = parts.findIndex((part) => part.toLowerCase() === '.spamassassin');
    // Profile folders live on the system drive; one elsewhere is not a profile kerio-dcc made.
    return profileAt >= 0 && parts.length - profileAt <= 2 && n.slice(0, 2).toLowerCase() === systemDrive;
  };
  const ancestorOfProfile = (p: WinPath): boolean => createdDirs.some((d) => d.toLowerCase().endsWith('\\.spamassassin') && isInsideWin(d, p));
  for (const f of m.files) if (!allowed(f.path)) throw tampered(dir, `it names ${f.path}, outside the rules folder and the .spamassassin folders`);
  for (const c of m.created) {
    if (!allowed(c.path) && !(c.type === 'dir' && ancestorOfProfile(c.path))) throw tampered(dir, `it names ${c.path}, outside the rules folder and the .spamassassin folders`);
  }
}
