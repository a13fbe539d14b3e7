import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/*
 * A backup's manifest as one object, as a test looks at it or edits it (by hand, as an
 * attacker or a damaged disk would): manifest.json's fields plus `files`, the entries of
 * files.jsonl. The layout is docs/backup-format.md's; the tool itself reads it only through
 * src/store/format.ts.
 */

export async function readBackupJson(dir: string): Promise<any> {
  const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8'));
  const lines = (await readFile(path.join(dir, 'files.jsonl'), 'utf8')).split('\n').filter(Boolean);
  return { ...manifest, files: lines.map((line) => JSON.parse(line)) };
}

/** Writes an edited manifest back in the same layout (the counts follow the edited list). */
export async function writeBackupJson(dir: string, manifest: any): Promise<void> {
  const { files, ...rest } = manifest;
  const counts = { fileCount: files.length, fileBytes: files.reduce((sum: number, f: { size: number }) => sum + f.size, 0) };
  await writeFile(path.join(dir, 'manifest.json'), `${JSON.stringify({ ...rest, ...counts }, null, 2)}\n`);
  await writeFile(path.join(dir, 'files.jsonl'), files.map((f: unknown) => `${JSON.stringify(f)}\n`).join(''));
}
