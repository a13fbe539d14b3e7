import t from 'tap';
import { cp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BackupWriter, backupNames, clearInterruptedBackups, fileListOf, readManifest, readManifestHead, writeManifest } from '../src/store/format.js';
import type { Manifest, ManifestFile, ManifestHead, ManifestTail } from '../src/store/manifest.js';
import { PROJECT, tempDir } from './helpers/cli.js';

/** A manifest with its file list as a plain array, as a test builds and compares it. */
type Plain = Omit<Manifest, 'files'> & { files: ManifestFile[] };

const ID = '20261127T120000Z';
const LEGACY = path.join(PROJECT, 'test', 'fixtures', 'backup-v1', '20261202T033052Z');

/** A manifest as read, with its list walked once, to compare with what was written. */
async function plainOf(m: Manifest): Promise<Plain> {
  const files: ManifestFile[] = [];
  for await (const f of m.files) files.push(f);
  return { ...m, files };
}

async function walk(m: Manifest): Promise<number> {
  let n = 0;
  for await (const _ of m.files) n++;
  return n;
}

function manifestWith(files: ManifestFile[]): Plain {
  return {
    toolVersion: '0.1.0',
    id: ID,
    command: 'install',
    createdAt: '2026-11-27T12:00:00.000Z',
    finishedAt: null,
    status: 'applying',
    target: {
      root: null,
      rulesDir: 'C:\\Program Files\\Kerio\\MailServer\\plugins\\spamassassin\\rules',
      installDir: 'C:\\Program Files\\Kerio\\MailServer',
      service: 'KerioMailServer',
    },
    answersFile: 'D:\\ops\\dcc "prod".ini',
    changes: ['local-cf', 'v310-pre'],
    files,
    created: [{ type: 'dir', path: 'C:\\Windows\\SysWOW64\\config\\systemprofile\\.spamassassin' }],
    firewall: [],
    skipped: ['C:\\rules\\link.cf (a link or junction: not followed)'],
  };
}

function filesOf(count: number): ManifestFile[] {
  return Array.from({ length: count }, (_, i) => ({
    path: `C:\\Program Files\\Kerio\\rules\\sub ${i % 7}\\Régle_${i}.cf`,
    backup: `files/C/Program Files/Kerio/rules/sub ${i % 7}/Régle_${i}.cf`,
    size: i * 13,
    sha256: i.toString(16).padStart(64, '0'),
    ...(i % 3 === 0 ? { after: i % 2 ? null : 'f'.repeat(64) } : {}),
  }));
}

function split(m: Plain): { head: ManifestHead; tail: ManifestTail; files: ManifestFile[] } {
  const { files, created, firewall, skipped, acls, ...head } = m;
  return { head, tail: { created, firewall, skipped, ...(acls ? { acls } : {}) }, files };
}

/** Makes a backup in `base` as a run does (without copies: the reader checks paths, not copies): its folder. */
async function written(base: string, manifest: Plain): Promise<string> {
  const { head, tail, files } = split(manifest);
  const writer = await BackupWriter.create(base, ID);
  for (const f of files) writer.add(f);
  await writer.finish({ ...head, id: writer.id }, tail);
  return writer.dir;
}

t.test('a backup is a small manifest.json and a files.jsonl of one line per file, and reads back', async (t) => {
  for (const count of [0, 1, 2, 3000]) {
    const base = await tempDir(t);
    const manifest = manifestWith(filesOf(count));
    const dir = await written(base, manifest);
    t.same(await readdir(base), [ID], `${count} file(s): the backup is in place under its id, nothing else is left`);
    t.same((await readdir(dir)).sort(), ['files.jsonl', 'manifest.json'], `${count} file(s): no temp file is left`);
    const list = await readFile(path.join(dir, 'files.jsonl'), 'utf8');
    t.same(
      list === ''
        ? []
        : list
            .trimEnd()
            .split('\n')
            .map((l) => JSON.parse(l)),
      manifest.files,
      `${count} file(s): one JSON line per file, in order`,
    );
    const onDisk = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8'));
    t.same([onDisk.schema, onDisk.fileCount, onDisk.files], [2, count, undefined], `${count} file(s): the manifest counts the files and does not hold them`);
    const read = await readManifest(dir);
    t.same(await plainOf(read), manifest, `${count} file(s): readManifest gives back the manifest`);
    t.same(
      [read.files.count, read.files.bytes],
      [count, manifest.files.reduce((sum, f) => sum + f.size, 0)],
      `${count} file(s): with their number and total size`,
    );
  }
});

t.test('a backup discarded half-made leaves nothing, and one killed half-made is not a backup and is cleared', async (t) => {
  const base = await tempDir(t);
  const { files } = manifestWith(filesOf(10));
  const discarded = await BackupWriter.create(base, ID);
  for (const f of files.slice(0, 5)) discarded.add(f);
  await discarded.discard();
  t.same(await readdir(base), [], 'the discarded backup is gone');

  // As a kill while copying leaves it: the folder with part of the copies, no manifest.
  const killed = await BackupWriter.create(base, ID);
  killed.add(files[0]!);
  await mkdir(path.join(killed.building, 'files', 'C'), { recursive: true });
  t.same(await readdir(base), [`${ID}.partial`], 'a backup being made is a .partial folder');
  // A backup folder left so by kerio-dcc 0.1.0, which made backups under their final name.
  await mkdir(path.join(base, '20261127T110000Z', 'files', 'C'), { recursive: true });
  await writeFile(path.join(base, '20261127T110000Z', '.manifest.json.kerio-dcc-0123abcd.tmp'), '{');
  const complete = await written(base, manifestWith(filesOf(2)));
  t.equal(path.basename(complete), `${ID}-2`, 'a new backup in the same second takes the next name');
  await mkdir(path.join(base, 'not-a-backup.partial'));
  t.same((await backupNames(base)).sort(), [`${ID}-2`], 'only the complete backup is listed');
  t.same((await clearInterruptedBackups(base)).sort(), ['20261127T110000Z', `${ID}.partial`], 'both unfinished ones are cleared');
  t.same((await readdir(base)).sort(), [`${ID}-2`, 'not-a-backup.partial'], 'and nothing else');
});

t.test('the status is written again without touching the file list', async (t) => {
  const base = await tempDir(t);
  const manifest = manifestWith(filesOf(2345));
  const dir = await written(base, manifest);
  const list = await readFile(path.join(dir, 'files.jsonl'));
  const done = await writeManifest(dir, { ...(await readManifest(dir)), status: 'complete', finishedAt: '2026-11-27T12:00:05.000Z' });
  t.same(await readFile(path.join(dir, 'files.jsonl')), list, 'files.jsonl is as it was');
  t.same(
    await plainOf(await readManifest(dir)),
    { ...manifest, status: 'complete', finishedAt: '2026-11-27T12:00:05.000Z' },
    'the manifest reads back with the new status',
  );
  await writeManifest(dir, { ...done, status: 'restore-failed', finishedAt: null });
  t.match(await readManifestHead(dir), { status: 'restore-failed', finishedAt: null }, 'a second update reads back');
  t.same((await readdir(dir)).sort(), ['files.jsonl', 'manifest.json'], 'no temp file is left');
});

t.test("a manifest's head is read without its file list; the whole is refused when the list is damaged", async (t) => {
  const base = await tempDir(t);
  const manifest = manifestWith(filesOf(3000));
  const dir = await written(base, manifest);
  const { head, tail } = split(manifest);
  t.same(await readManifestHead(dir), { ...head, ...tail }, 'the head of a 3,000-file backup');
  const listFile = path.join(dir, 'files.jsonl');
  const list = await readFile(listFile, 'utf8');

  await writeFile(listFile, list.slice(0, list.length / 2));
  t.same(await readManifestHead(dir), { ...head, ...tail }, 'the head is read while the list is cut short');
  await t.rejects(readManifest(dir), /cannot be trusted: files\.jsonl is not valid JSON/, 'a list cut mid-line is refused');
  await writeFile(listFile, list.split('\n').slice(0, 100).join('\n') + '\n');
  await t.rejects(readManifest(dir), /files\.jsonl does not hold the 3000 file\(s\) that manifest\.json counts/, 'a list cut at a line end is refused');
  await rm(listFile);
  await t.rejects(readManifest(dir), /files\.jsonl is missing/, 'a missing list is named');

  const manifestFile = path.join(dir, 'manifest.json');
  const text = await readFile(manifestFile, 'utf8');
  await writeFile(manifestFile, text.replace('"tool": "kerio-dcc"', '"tool": "other"'));
  await t.rejects(readManifestHead(dir), /is not a kerio-dcc manifest/, "a head that is not kerio-dcc's is refused");
  await writeFile(manifestFile, text.replace('"schema": 2', '"schema": 3'));
  await t.rejects(readManifestHead(dir), /is not a kerio-dcc manifest of a version this tool reads/, 'a layout from a later version is refused');
  await writeFile(manifestFile, text.slice(0, 40));
  await t.rejects(readManifestHead(dir), /manifest\.json is not valid JSON/, 'a manifest cut short is refused');
  await rm(manifestFile);
  await t.rejects(readManifestHead(dir), /manifest\.json is missing/, 'a missing manifest is named');
});

t.test('a file list is checked each time it is walked, so one changed after it was read is refused', async (t) => {
  const base = await tempDir(t);
  const dir = await written(base, manifestWith(filesOf(50)));
  const file = path.join(dir, 'files.jsonl');
  const text = await readFile(file, 'utf8');

  const read = await readManifest(dir);
  t.equal(await walk(read), 50, 'walked once');
  t.equal(await walk(read), 50, 'and again, from disk');

  await writeFile(file, text.replace('"backup":"files/C/Program Files/Kerio/rules/sub 3/Régle_3.cf"', '"backup":"../../Windows/win.ini"'));
  await t.rejects(walk(read), /outside the backup folder/, 'an entry edited since to point outside the backup is refused while walking');
  await t.rejects(readManifest(dir), /outside the backup folder/, 'and when read again');

  const lines = text.split('\n');
  await writeFile(file, [...lines.slice(0, 10), ...lines.slice(11)].join('\n'));
  await t.rejects(walk(read), /files\.jsonl changed while it was being read/, 'an entry removed since is noticed');
  await writeFile(file, text.replace('\n', '\n\n'));
  await t.rejects(readManifest(dir), /files\.jsonl is not valid JSON/, 'an empty line is refused');
  await writeFile(file, text.replace(/"path":"[^"]*"/, '"path":1'));
  await t.rejects(readManifest(dir), /an entry has no valid path or hash/, 'an entry without a path is refused');
});

t.test('a one-file manifest (kerio-dcc 0.1.0) reads back, in any layout JSON allows, and is rewritten in the new layout', async (t) => {
  const manifest = manifestWith(filesOf(1200));
  const { files, created, firewall, skipped, ...head } = manifest;
  const oneFile = { schema: 1, tool: 'kerio-dcc', ...head, files, created, firewall, skipped };
  const layouts: Record<string, string> = {
    'as 0.1.0 wrote it': JSON.stringify(oneFile, null, 2) + '\n',
    'with the file list last (an earlier layout)': JSON.stringify({ schema: 1, tool: 'kerio-dcc', ...head, created, firewall, skipped, files }, null, 2),
    compact: JSON.stringify(oneFile),
    'with CRLF line ends': JSON.stringify(oneFile, null, 2).replace(/\n/g, '\r\n'),
  };
  for (const [name, text] of Object.entries(layouts)) {
    const dir = await tempDir(t);
    await writeFile(path.join(dir, 'manifest.json'), text);
    const read = await readManifest(dir);
    t.same(await plainOf(read), manifest, `${name}: the same manifest`);
    t.equal(read.files.count, 1200, `${name}: 1,200 files`);
    t.match(await readManifestHead(dir), head, `${name}: the same head`);
  }

  const dir = await tempDir(t);
  await cp(LEGACY, dir, { recursive: true });
  const legacy = await readManifest(dir);
  t.match(legacy, { id: '20261202T033052Z', command: 'install', status: 'complete' }, 'the backup 0.1.0 made reads');
  const legacyFiles = (await plainOf(legacy)).files;
  t.equal(legacyFiles.length, 4, 'with its four files');
  await writeManifest(dir, { ...legacy, status: 'restored' });
  t.equal(JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')).schema, 2, 'a new status rewrites it in the new layout');
  t.same(await plainOf(await readManifest(dir)), { ...(await plainOf(legacy)), status: 'restored' }, 'holding the same');
});

t.test('a manifest held in memory is written with its list', async (t) => {
  const dir = await tempDir(t);
  const plain = manifestWith(filesOf(3));
  await writeManifest(dir, { ...plain, files: fileListOf(plain.files) });
  t.same(await plainOf(await readManifest(dir)), plain, 'it reads back');
});
