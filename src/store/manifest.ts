import path from 'node:path';
import { PreconditionError } from '../errors.js';
import { dirnameWin, isInsideWin, normalizeWin, type WinPath } from '../target/target.js';
import type { FirewallRule } from '../windows/firewall.js';
import { isWatchPath } from '../trust/watchFiles.js';

export interface ManifestFile {
  path: WinPath;
  /** Where the copy is, relative to the backup folder, with forward slashes. */
  backup: string;
  size: number;
  sha256: string;
  /** What the run left there: a sha256, null when it deleted the file; absent when it did not mean to touch it. */
  after?: string | null;
  /** The run replaced it with a file its program keeps state in (DCC's map): an undo restores it whatever it holds by then. */
  keepsState?: true;
}

export interface ManifestCreated {
  type: 'dir' | 'file';
  path: WinPath;
  /** For files: the bytes the run wrote, so an undo can tell our file from a later one. */
  sha256?: string;
  /** A file its program keeps state in (DCC's map): removed by an undo whatever it holds by then. */
  keepsState?: true;
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

/** A backup's manifest as the tool holds it; how it is laid out on disk is store/format.ts's business. */
export interface Manifest {
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
  /** The run provisioned the bundled DCC client: how its licence was accepted (absent otherwise). */
  dccLicense?: { accepted: true; how: 'answers' | 'prompt'; sha256: string };
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
export interface FileList extends AsyncIterable<ManifestFile> {
  readonly count: number;
  /** Their total size. */
  readonly bytes: number;
  /** Read from the backup's own file list at each walk (else held in memory). */
  readonly stored: boolean;
}

/** Everything known before the first file is backed up. */
export type ManifestHead = Omit<Manifest, 'files' | 'created' | 'firewall' | 'skipped' | 'acls'>;
/** What is learned while backing up. */
export type ManifestTail = Pick<Manifest, 'created' | 'firewall' | 'skipped' | 'acls'>;

export function tampered(dir: string, why: string): PreconditionError {
  return new PreconditionError(
    `The backup at ${dir} cannot be trusted: ${why}.`,
    'Nothing was changed. Use another backup (kerio-dcc backups --verify lists which are intact).',
  );
}

/** A path from a manifest that stays inside the backup folder. */
export function backupCopyPath(dir: string, relative: string): string {
  if (
    relative === '' ||
    relative.includes('\\') ||
    relative.split('/').some((part) => part === '..' || part === '') ||
    path.isAbsolute(relative) ||
    /^[A-Za-z]:/.test(relative)
  ) {
    throw tampered(dir, `the copy "${relative}" would lie outside the backup folder`);
  }
  return path.join(dir, ...relative.split('/'));
}

/**
 * The folders a manifest may name: the rules folder, `.spamassassin` profile folders
 * with what is in them, the bundled DCC client's folders the answers name, and the watch
 * task's own files in the state folder. Anything else (`..`, another drive, a system file) is refused.
 */
export async function checkManifestPaths(dir: string, m: Manifest, rulesDir: WinPath, systemRoot: WinPath, dccClientDirs: WinPath[] = []): Promise<void> {
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
    // The bundled DCC client's programs and map: files directly in the folders the answers name.
    if (dccClientDirs.some((d) => normalizeWin(d).toLowerCase() === dirnameWin(n).toLowerCase())) return true;
    const parts = n.split('\\');
    const profileAt = parts.findIndex((part) => part.toLowerCase() === '.spamassassin');
    // Profile folders live on the system drive; one elsewhere is not a profile kerio-dcc made.
    return profileAt >= 0 && parts.length - profileAt <= 2 && n.slice(0, 2).toLowerCase() === systemDrive;
  };
  const ancestorOfProfile = (p: WinPath): boolean =>
    createdDirs.some((d) => d.toLowerCase().endsWith('\\.spamassassin') && isInsideWin(d, p)) || dccClientDirs.some((d) => isInsideWin(d, p));
  for await (const f of m.files) if (!allowed(f.path)) throw tampered(dir, `it names ${f.path}, outside the rules folder and the .spamassassin folders`);
  for (const c of m.created) {
    if (!allowed(c.path) && !(c.type === 'dir' && ancestorOfProfile(c.path)))
      throw tampered(dir, `it names ${c.path}, outside the rules folder and the .spamassassin folders`);
  }
}
