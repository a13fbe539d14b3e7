import t from 'tap';
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ManifestWriter, rewriteManifestHead, writeManifest } from '../src/store/create.js';
import { MANIFEST_NAME, fileListOf, readManifest, readManifestHead, type Manifest, type ManifestFile } from '../src/store/manifest.js';
import { tempDir } from './helpers/cli.js';

/** A manifest with its file list as a plain array, as a test builds and compares it. */
type Plain = Omit<Manifest, 'files'> & { files: ManifestFile[] };

const asManifest = (m: Plain): Manifest => ({ ...m, files: fileListOf(m.files) });
/** A manifest as read, with its list walked once, to compare with what was written. */
const plainOf = (m: Manifest): Plain => ({ ...m, files: [...m.files] });

function manifestWith(files: ManifestFile[]): Plain {
  return {
    schema: 1,
    tool: 'kerio-dcc',
    toolVersion: '0.1.0',
    id: '20261127T120000Z',
    command: 'install',
    createdAt: '2026-11-27T12:00:00.000Z',
    finishedAt: null,
    status: 'applying',
    target: { root: null, rulesDir: 'C:\\Program Files\\Kerio\\MailServer\\plugins\\spamassassin\\rules', installDir: 'C:\\Program Files\\Kerio\\MailServer', service: 'KerioMailServer' },
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

/** The JSON of a whole manifest, keys in the order the tool writes them: the file list between head and tail. */
function wholeJson(m: Plain): string {
  const { files, created, firewall, skipped, ...head } = m;
  return JSON.stringify({ ...head, files, created, firewall, skipped }, null, 2) + '\n';
}

async function writtenByWriter(dir: string, manifest: Plain): Promise<void> {
  const { files, created, firewall, skipped, ...head } = manifest;
  const writer = new ManifestWriter(dir, head);
  for (const f of files) writer.add(f);
  await writer.finish({ created, firewall, skipped });
}

t.test('a manifest written entry by entry while backing up is exactly the JSON of the whole, and reads back', async (t) => {
  for (const count of [0, 1, 2, 499, 500, 501, 3000]) {
    const dir = await tempDir(t);
    const manifest = manifestWith(filesOf(count));
    await writtenByWriter(dir, manifest);
    t.equal(await readFile(path.join(dir, MANIFEST_NAME), 'utf8'), wholeJson(manifest), `${count} file(s): same bytes as the whole JSON`);
    const read = await readManifest(dir);
    t.same(plainOf(read), manifest, `${count} file(s): readManifest gives back the manifest`);
    t.same([read.files.count, read.files.bytes], [count, manifest.files.reduce((sum, f) => sum + f.size, 0)], `${count} file(s): with their number and total size`);
    t.same(await readdir(dir), [MANIFEST_NAME], `${count} file(s): no temp file is left`);
  }
});

t.test('a manifest discarded half-written leaves nothing, and an earlier manifest untouched', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, MANIFEST_NAME), 'earlier');
  const { files, ...rest } = manifestWith(filesOf(10));
  const writer = new ManifestWriter(dir, rest);
  for (const f of files.slice(0, 5)) writer.add(f);
  writer.discard();
  t.same(await readdir(dir), [MANIFEST_NAME], 'the temp file is gone');
  t.equal(await readFile(path.join(dir, MANIFEST_NAME), 'utf8'), 'earlier', 'the earlier manifest is as it was');
});

t.test("the status is updated without changing a byte of the file list, and a changed manifest is refused", async (t) => {
  const dir = await tempDir(t);
  const manifest = manifestWith(filesOf(2345));
  const { files: _files, created: _c, firewall: _w, skipped: _s, ...head } = manifest;
  await writtenByWriter(dir, manifest);
  const done = { ...head, status: 'complete' as const, finishedAt: '2026-11-27T12:00:05.000Z' };
  await rewriteManifestHead(dir, head, done);
  t.equal(await readFile(path.join(dir, MANIFEST_NAME), 'utf8'), wholeJson({ ...manifest, ...done }), 'the file is the whole manifest with the new status');
  t.same(await readdir(dir), [MANIFEST_NAME], 'no temp file is left');

  const before = await readFile(path.join(dir, MANIFEST_NAME));
  await t.rejects(rewriteManifestHead(dir, head, { ...head, status: 'restored' }), /changed by something else/, 'the head given is no longer the one on disk');
  t.same(await readFile(path.join(dir, MANIFEST_NAME)), before, 'a refused update changes nothing');
  t.same(await readdir(dir), [MANIFEST_NAME], 'and leaves no temp file');
  await rewriteManifestHead(dir, done, { ...head, status: 'restore-failed', finishedAt: null });
  t.same(plainOf(await readManifest(dir)), { ...manifest, status: 'restore-failed', finishedAt: null }, 'a second update, from the head the first wrote, reads back');
});

t.test("a manifest's head is read without its file list", async (t) => {
  const dir = await tempDir(t);
  const manifest = manifestWith(filesOf(3000));
  const { files: _files, created: _c, firewall: _w, skipped: _s, ...head } = manifest;
  await writtenByWriter(dir, manifest);
  t.same(await readManifestHead(dir), head, 'the head of a 3,000-file manifest');

  // Cut the file after its first entries: the list is not valid JSON any more, but the head is never parsed with it.
  const text = await readFile(path.join(dir, MANIFEST_NAME), 'utf8');
  await writeFile(path.join(dir, MANIFEST_NAME), text.slice(0, text.length / 2));
  t.same(await readManifestHead(dir), head, 'the head is read from a manifest whose list is cut short');
  await t.rejects(readManifest(dir), /cannot be trusted/, 'while reading the whole manifest refuses it');

  // The layout before the list moved: files last, after created, firewall and skipped.
  const { files, ...rest } = manifest;
  await writeFile(path.join(dir, MANIFEST_NAME), JSON.stringify({ ...rest, files }, null, 2));
  t.match(await readManifestHead(dir), head, 'a manifest in the earlier layout gives the same head');

  await writeFile(path.join(dir, MANIFEST_NAME), JSON.stringify({ ...head, tool: 'other' }, null, 2));
  await t.rejects(readManifestHead(dir), /is not a kerio-dcc manifest/, 'a head that is not kerio-dcc\'s is refused');
  await writeFile(path.join(dir, MANIFEST_NAME), '{\n  "schema": 1,\n  "files": [');
  await t.rejects(readManifestHead(dir), /is not a kerio-dcc manifest/, 'a head cut short is refused');
  await rm(path.join(dir, MANIFEST_NAME));
  await t.rejects(readManifestHead(dir), /manifest.json is missing/, 'a missing manifest is named');
});

t.test('a manifest read back is the same in every layout JSON allows: streamed, files last, compact, CRLF', async (t) => {
  const manifest = manifestWith(filesOf(1200));
  const { files, ...rest } = manifest;
  const layouts: Record<string, string> = {
    'as kerio-dcc writes it': wholeJson(manifest),
    'with the file list last (an earlier layout)': JSON.stringify({ ...rest, files }, null, 2),
    'compact': JSON.stringify(manifest),
    'with CRLF line ends': wholeJson(manifest).replace(/\n/g, '\r\n'),
  };
  for (const [name, text] of Object.entries(layouts)) {
    const dir = await tempDir(t);
    await writeFile(path.join(dir, MANIFEST_NAME), text);
    const read = await readManifest(dir);
    t.same(plainOf(read), manifest, `${name}: the same manifest`);
    t.equal(read.files.count, 1200, `${name}: 1,200 files`);
    const { files: _f, created: _c, firewall: _w, skipped: _s, ...head } = manifest;
    t.match(await readManifestHead(dir), head, `${name}: the same head`);
  }
});

t.test('a file list is checked each time it is walked, so a manifest changed after it was read is refused', async (t) => {
  const dir = await tempDir(t);
  const manifest = manifestWith(filesOf(50));
  await writtenByWriter(dir, manifest);
  const file = path.join(dir, MANIFEST_NAME);
  const text = await readFile(file, 'utf8');

  const read = await readManifest(dir);
  t.equal([...read.files].length, 50, 'walked once');
  t.equal([...read.files].length, 50, 'and again, from disk');

  await writeFile(file, text.replace('"backup": "files/C/Program Files/Kerio/rules/sub 3/Régle_3.cf"', '"backup": "../../Windows/win.ini"'));
  t.throws(() => [...read.files], /outside the backup folder/, 'an entry edited since to point outside the backup is refused while walking');
  await t.rejects(readManifest(dir), /outside the backup folder/, 'and when read again');

  const entries = text.split('\n    {\n');
  await writeFile(file, [...entries.slice(0, 10), ...entries.slice(11)].join('\n    {\n'));
  t.throws(() => [...read.files], /changed while it was being read/, 'an entry removed since is noticed');
  t.equal((await readManifest(dir)).files.count, 49, 'a fresh read counts what is there now');

  await writeFile(file, text.replace('\n    {\n', '\n    {"path": 1,\n'));
  await t.rejects(readManifest(dir), /cannot be trusted/, 'an entry laid out otherwise is refused');
  await writeFile(file, text.replace('\n    }\n  ],\n', '\n    }\n  ,\n'));
  await t.rejects(readManifest(dir), /is not laid out as kerio-dcc writes it/, 'a list that never closes is refused');
});

t.test('a manifest read back and written again with a new status keeps every entry, read from disk as it goes', async (t) => {
  const dir = await tempDir(t);
  const manifest = manifestWith(filesOf(1500));
  await writtenByWriter(dir, manifest);
  const read = await readManifest(dir);
  await writeManifest(dir, { ...read, status: 'restored', finishedAt: '2026-11-27T12:01:00.000Z' });
  t.equal(await readFile(path.join(dir, MANIFEST_NAME), 'utf8'), wholeJson({ ...manifest, status: 'restored', finishedAt: '2026-11-27T12:01:00.000Z' }), 'the same file but for the status');
  t.same(await readdir(dir), [MANIFEST_NAME], 'no temp file is left');

  const inMemory = asManifest(manifestWith(filesOf(3)));
  await writeManifest(dir, inMemory);
  t.same(plainOf(await readManifest(dir)), manifestWith(filesOf(3)), 'a manifest held in memory is written the same way');
});
