import path from 'node:path';
import { readManifest } from '../store/format.js';
import { listBackupDirs } from '../store/prune.js';
import { verifyBackupCopies } from '../plans/rollback.js';
import type { Report } from '../model/report.js';
import type { RunContext } from '../model/context.js';
import { ExitCode, KerioDccError } from '../errors.js';
import { joinWin } from '../target/target.js';

interface BackupRow {
  id: string;
  path: string;
  createdAt: string | null;
  toolVersion: string | null;
  command: string | null;
  status: string | null;
  changes: string[];
  files: number;
  bytes: number;
  problems: string[] | null;
}

function formatBytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** Lists backups newest first; with --verify re-hashes each copy and names what is missing or altered. */
export async function runBackups(ctx: RunContext, report: Report, verify: boolean): Promise<void> {
  const rows: BackupRow[] = [];
  for (const dir of await listBackupDirs(ctx)) {
    const id = path.basename(dir);
    const winPath = joinWin(ctx.answers.backup.dir, id);
    try {
      const m = await readManifest(dir);
      const problems = verify ? await verifyBackupCopies(dir, m) : null;
      rows.push({
        id,
        path: winPath,
        createdAt: m.createdAt,
        toolVersion: m.toolVersion,
        command: m.command,
        status: m.status,
        changes: m.changes,
        files: m.files.count,
        bytes: m.files.bytes,
        problems,
      });
    } catch (err) {
      rows.push({
        id,
        path: winPath,
        createdAt: null,
        toolVersion: null,
        command: null,
        status: null,
        changes: [],
        files: 0,
        bytes: 0,
        problems: [(err as Error).message],
      });
    }
  }
  report.data['backups'] = rows;
  const lines = rows.map((r) =>
    [
      `  ${r.id}  ${r.command ?? '?'} (${r.status ?? 'unreadable'})  changed: ${r.changes.join(', ') || 'nothing'}  ${r.files} files, ${formatBytes(r.bytes)}  kerio-dcc ${r.toolVersion ?? '?'}`,
      ...(r.problems === null ? [] : r.problems.length ? r.problems.map((p) => `      DAMAGED: ${p}`) : ['      verified: every copy matches its sha256']),
    ].join('\n'),
  );
  report.summary = rows.length ? `Backups in ${ctx.answers.backup.dir}, newest first:\n${lines.join('\n')}` : `No backups in ${ctx.answers.backup.dir}.`;
  const damaged = rows.filter((r) => r.problems?.length);
  if (damaged.length) {
    throw new KerioDccError(
      ExitCode.precondition,
      `${damaged.length} backup(s) failed verification: ${damaged.map((r) => r.id).join(', ')}.`,
      'Do not roll back from those; the others are intact.',
    );
  }
}
