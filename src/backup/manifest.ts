import { closeSync, openSync, readSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { PreconditionError, errnoCode } from '../errors.js';
import { isInsideWin, isWindowsAbsolute, normalizeWin, type WinPath } from '../target/target.js';
import type { FirewallRule } from '../windows/firewall.js';

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
  files: ManifestFile[];
  created: ManifestCreated[];
  firewall: ManifestFirewall[];
  /** Files below the rules folder that could not be backed up (links are never followed). */
  skipped: string[];
}

/** The fields before the file list: everything known before the first file is backed up. */
export type ManifestHead = Omit<Manifest, 'files' | 'created' | 'firewall' | 'skipped'>;
/** The fields after it: what is learned while backing up. */
export type ManifestTail = Pick<Manifest, 'created' | 'firewall' | 'skipped'>;

/*
 * The layout of manifest.json, in one place: the head, the file list, then the tail, exactly
 * as JSON.stringify(manifest, null, 2) lays them out. The file list comes between, so a
 * backup of a big rules folder writes each entry as it is made and never holds the list,
 * and the status in the head can be updated by copying everything after it unchanged.
 */

export function manifestHeadText(manifest: ManifestHead): string {
  const { files: _f, created: _c, firewall: _w, skipped: _s, ...head } = manifest as Manifest;
  return `${JSON.stringify(head, null, 2).slice(0, -'\n}'.length)},\n  "files": [`;
}

export function fileEntryText(file: ManifestFile, first: boolean): string {
  return `${first ? '' : ','}\n    ${JSON.stringify(file, null, 2).replace(/\n/g, '\n    ')}`;
}

export function manifestTailText(tail: ManifestTail, fileCount: number): string {
  const { created, firewall, skipped } = tail;
  return `${fileCount ? '\n  ' : ''}],\n${JSON.stringify({ created, firewall, skipped }, null, 2).slice('{\n'.length)}\n`;
}

/** File entries per piece of manifest text: few writes, and no huge string. */
const ENTRIES_PER_PIECE = 500;

/** A whole manifest held in memory (as read back for a restore), as text in pieces. */
export function* manifestText(manifest: Manifest): Generator<string> {
  yield manifestHeadText(manifest);
  const { files } = manifest;
  for (let i = 0; i < files.length; i += ENTRIES_PER_PIECE) {
    yield files.slice(i, i + ENTRIES_PER_PIECE).map((f, j) => fileEntryText(f, i + j === 0)).join('');
  }
  yield manifestTailText(manifest, files.length);
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

function readJson(dir: string, text: string): Manifest {
  try {
    return JSON.parse(text) as Manifest;
  } catch {
    throw tampered(dir, `${MANIFEST_NAME} is not valid JSON`);
  }
}

function checkHead(dir: string, m: ManifestHead): void {
  if (m?.schema !== 1 || m.tool !== 'kerio-dcc' || typeof m.id !== 'string' || typeof m.status !== 'string' || !Array.isArray(m.changes) || typeof m.target?.rulesDir !== 'string') {
    throw tampered(dir, `${MANIFEST_NAME} is not a kerio-dcc manifest of a version this tool reads`);
  }
}

function missing(dir: string, err: unknown): never {
  if (errnoCode(err) === 'ENOENT') throw tampered(dir, `${MANIFEST_NAME} is missing`);
  throw err;
}

/** The backup folder holds only what kerio-dcc wrote; a manifest that names anything else is refused. */
export async function readManifest(dir: string): Promise<Manifest> {
  const m = readJson(dir, await readFile(path.join(dir, MANIFEST_NAME), 'utf8').catch((err: unknown) => missing(dir, err)));
  checkHead(dir, m);
  if (!Array.isArray(m.files) || !Array.isArray(m.created) || !Array.isArray(m.firewall)) {
    throw tampered(dir, `${MANIFEST_NAME} is not a kerio-dcc manifest of a version this tool reads`);
  }
  for (const f of m.files) {
    if (typeof f.path !== 'string' || !isWindowsAbsolute(f.path) || typeof f.sha256 !== 'string') throw tampered(dir, `an entry has no valid path or hash`);
    backupCopyPath(dir, f.backup);
  }
  for (const c of m.created) if (typeof c.path !== 'string' || !isWindowsAbsolute(c.path)) throw tampered(dir, 'a created entry has no valid path');
  return m;
}

/** The line that ends a manifest's head: JSON strings hold no raw line break, so only the layout makes it. */
const HEAD_END = Buffer.from('\n  "files": [');
/** A head is a few hundred bytes; one read of this much finds its end. */
const HEAD_READ = 64 * 1024;

/**
 * A manifest's head (what ran, when, and whether it finished) without its file list, which
 * may hold a line for each of tens of thousands of files: every command looks at the newest
 * backup's head, and only a restore needs the list. A manifest whose head is not where this
 * layout puts it is read whole.
 */
export async function readManifestHead(dir: string): Promise<ManifestHead> {
  let start: Buffer;
  try {
    const fd = openSync(path.join(dir, MANIFEST_NAME), 'r');
    try {
      const buffer = Buffer.allocUnsafe(HEAD_READ);
      start = buffer.subarray(0, readSync(fd, buffer, 0, HEAD_READ, 0));
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    missing(dir, err);
  }
  const end = start.indexOf(HEAD_END);
  if (end < 1 || start[end - 1] !== 0x2c /* , */) return readManifest(dir);
  const head = readJson(dir, `${start.subarray(0, end - 1).toString('utf8')}\n}`);
  checkHead(dir, head);
  return head;
}

/**
 * The folders a manifest may name: the rules folder, and `.spamassassin` profile folders
 * with what is in them. Anything else (`..`, another drive, a system file) is refused.
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
    if (isInsideWin(n, rulesDir)) return true;
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
