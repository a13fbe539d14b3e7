import t from 'tap';
import { cp, mkdir, readFile, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  BackupWriter,
  backupId,
  backupNames,
  clearInterruptedBackups,
  fileListOf,
  readManifest,
  readManifestHead,
  writeManifest,
} from '../src/store/format.js';
import { backupCopyPath, checkManifestPaths, type Manifest, type ManifestFile, type ManifestHead, type ManifestTail } from '../src/store/manifest.js';
import { ANSWERS_COPY, WATCH_FOLDER } from '../src/trust/watchFiles.js';
import { PROJECT, tempDir } from './helpers/cli.js';
import { failingAt, handlesIn } from './helpers/faults.js';

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

t.test('a backup is named by the UTC second it was made, and only such names are backups', async (t) => {
  t.equal(backupId(new Date(Date.UTC(2026, 11, 2, 3, 30, 52, 123))), '20261202T033052Z', 'milliseconds and separators are dropped');
  t.equal(backupId(new Date(Date.UTC(2026, 0, 9, 23, 5, 7, 0))), '20260109T230507Z', 'a whole second too');

  const base = await tempDir(t);
  const backups = ['20261127T120000Z', '20261127T120000Z-2', '20261127T120000Z-12'];
  for (const name of backups) {
    await mkdir(path.join(base, 'made', name), { recursive: true });
    await rename(await written(path.join(base, 'made', name), manifestWith(filesOf(1))), path.join(base, name));
  }
  await rm(path.join(base, 'made'), { recursive: true });
  const others = ['x20261127T120000Z', '20261127T120000Z.old', '20261127T120000Z-2a', '2026-11-27', 'notes'];
  for (const name of others) await mkdir(path.join(base, name, 'files'), { recursive: true });
  await writeFile(path.join(base, '20261127T130000Z'), 'a file, not a folder');
  await symlink(path.join(base, backups[0]!), path.join(base, '20261127T140000Z'), 'dir');
  // A backup of kerio-dcc 0.1.0 kept its copies beside its manifest: complete, not interrupted.
  await mkdir(path.join(base, backups[0]!, 'files', 'C'), { recursive: true });
  t.same((await backupNames(base)).sort(), [...backups].sort(), 'the backups are listed, and nothing else: no other name, no file, no link');
  t.same(await clearInterruptedBackups(base), [], 'and none of it is cleared as an interrupted backup');
  t.same((await readdir(base)).sort(), [...backups, ...others, '20261127T130000Z', '20261127T140000Z'].sort(), 'everything is still there');
  t.same(await backupNames(path.join(base, 'missing')), [], 'a backups folder not made yet has no backups');
  t.same(await clearInterruptedBackups(path.join(base, 'missing')), [], 'and nothing to clear');
});

t.test('a new backup takes a name no folder has, and says so when none is free', async (t) => {
  const base = await tempDir(t);
  await mkdir(path.join(base, ID));
  const second = await BackupWriter.create(base, ID);
  t.equal(second.id, `${ID}-2`, 'the name of a complete backup is not taken again');
  t.equal(second.building, path.join(base, `${ID}-2.partial`), 'it is built in a .partial folder');
  t.same(
    second.copyHostPath('c:\\Program Files\\Kerio\\rules\\Régle 1.cf'),
    {
      backup: 'files/C/Program Files/Kerio/rules/Régle 1.cf',
      host: path.join(base, `${ID}-2.partial`, 'files', 'C', 'Program Files', 'Kerio', 'rules', 'Régle 1.cf'),
    },
    'a copy mirrors its Windows path under files/<drive>',
  );
  await second.discard();

  const freed = await tempDir(t);
  for (const name of [`${ID}-2`, `${ID}-3a`, `${ID}-7.old`, `20261127T120001Z-9`]) await mkdir(path.join(freed, name));
  const third = await BackupWriter.create(freed, ID);
  t.equal(third.id, `${ID}-3`, 'a name retention freed is not taken again: the new backup sorts after the one made before it in the same second');
  await third.discard();
  await mkdir(path.join(freed, `${ID}-4.partial`));
  t.equal((await BackupWriter.create(freed, ID)).id, `${ID}-5`, 'nor the name of a backup being made');

  for (let n = 2; n < 100; n++) await mkdir(path.join(base, `${ID}-${n}`));
  await t.rejects(BackupWriter.create(base, ID), { message: `internal: could not find a free backup folder name in ${base}` }, '99 taken names stop the run');

  const file = path.join(base, 'a file');
  await writeFile(file, '');
  await t.rejects(BackupWriter.create(file, ID), { code: 'ENOTDIR' }, 'a backups folder that cannot hold folders gives its own error');
});

t.test('a manifest that misstates anything a restore relies on is refused, naming what is wrong', async (t) => {
  const base = await tempDir(t);
  const good = {
    ...manifestWith(filesOf(3)),
    acls: [{ path: 'C:\\ProgramData\\kerio-dcc', before: 'O:BAD:(A;;FA;;;WD)', after: 'O:BAD:P(A;;FA;;;BA)' }],
  };
  const dir = await written(base, good);
  const manifestFile = path.join(dir, 'manifest.json');
  const listFile = path.join(dir, 'files.jsonl');
  const text = await readFile(manifestFile, 'utf8');
  const list = await readFile(listFile, 'utf8');
  t.same(await plainOf(await readManifest(dir)), good, 'the manifest as written, with a changed permission, reads back');

  const notOurs = /^The backup at .* cannot be trusted: manifest\.json is not a kerio-dcc manifest of a version this tool reads\.$/;
  const edits: [string, (m: Record<string, any>) => void, RegExp][] = [
    ['an id that is not text', (m) => (m.id = 20261127), notOurs],
    ['no status', (m) => delete m.status, notOurs],
    ['changes that are not a list', (m) => (m.changes = 'local-cf'), notOurs],
    ['no target', (m) => delete m.target, notOurs],
    ['a rules folder that is not text', (m) => (m.target.rulesDir = null), notOurs],
    ['no created list', (m) => delete m.created, notOurs],
    ['no firewall list', (m) => (m.firewall = {}), notOurs],
    ['no skipped list', (m) => (m.skipped = 'none'), notOurs],
    ['a created entry that is null', (m) => (m.created = [null]), /cannot be trusted: a created entry has no valid path\.$/],
    ['a created entry with a relative path', (m) => (m.created[0].path = 'Windows\\x'), /a created entry has no valid path/],
    ['a created entry with a number for a path', (m) => (m.created[0].path = 7), /a created entry has no valid path/],
    ['permissions that are not a list', (m) => (m.acls = {}), /cannot be trusted: a permissions entry has no valid path or SDDL\.$/],
    ['a permissions entry that is null', (m) => (m.acls = [null]), /a permissions entry has no valid path or SDDL/],
    ['a permissions entry with a relative path', (m) => (m.acls[0].path = 'ProgramData\\kerio-dcc'), /a permissions entry has no valid path or SDDL/],
    ['a permissions entry without the SDDL before', (m) => (m.acls[0].before = 1), /a permissions entry has no valid path or SDDL/],
    ['a permissions entry without the SDDL after', (m) => delete m.acls[0].after, /a permissions entry has no valid path or SDDL/],
    [
      'a second permissions entry with a relative path',
      (m) => m.acls.push({ ...m.acls[0], path: 'kerio-dcc' }),
      /a permissions entry has no valid path or SDDL/,
    ],
    ['no file count', (m) => delete m.fileCount, notOurs],
    ['a file size total that is not a number', (m) => (m.fileBytes = '26'), notOurs],
    ['one file too many counted', (m) => m.fileCount++, /cannot be trusted: files\.jsonl does not hold the 4 file\(s\) that manifest\.json counts\.$/],
    ['a byte too many counted', (m) => m.fileBytes++, /files\.jsonl does not hold the 3 file\(s\) that manifest\.json counts/],
  ];
  for (const [what, edit, why] of edits) {
    const m = JSON.parse(text);
    edit(m);
    await writeFile(manifestFile, JSON.stringify(m));
    await t.rejects(readManifest(dir), { name: 'KerioDccError', message: why }, `${what}: refused`);
  }
  await writeFile(manifestFile, text);
  const entries: [string, (f: Record<string, any>) => void][] = [
    ['an entry that is null', (f) => Object.keys(f).forEach((k) => delete f[k])],
    ['an entry with a relative path', (f) => (f.path = 'rules\\local.cf')],
    ['an entry without a hash', (f) => delete f.sha256],
    ['an entry whose size is text', (f) => (f.size = '13')],
  ];
  for (const [what, edit] of entries) {
    const lines = list.trimEnd().split('\n');
    const f = JSON.parse(lines[1]!);
    edit(f);
    lines[1] = Object.keys(f).length ? JSON.stringify(f) : 'null';
    await writeFile(listFile, lines.join('\n') + '\n');
    await t.rejects(readManifest(dir), { name: 'KerioDccError', message: /cannot be trusted: an entry has no valid path or hash\.$/ }, `${what}: refused`);
  }
  await writeFile(listFile, list);

  const { files, ...rest } = JSON.parse(text);
  await writeFile(manifestFile, JSON.stringify({ ...rest, schema: 1, files: { 0: files } }));
  await t.rejects(readManifest(dir), { message: notOurs }, 'a one-file manifest whose files are not a list: refused');

  for (const name of ['manifest.json', 'files.jsonl']) {
    await writeFile(manifestFile, text);
    const elsewhere = path.join(base, `elsewhere-${name}`);
    await rename(path.join(dir, name), elsewhere);
    await symlink(elsewhere, path.join(dir, name));
    await t.rejects(
      readManifest(dir),
      { message: new RegExp(`cannot be trusted: ${name.replace('.', '\\.')} is a link: kerio-dcc never follows one\\.$`) },
      `${name} as a link: refused`,
    );
    await rm(path.join(dir, name));
    await rename(elsewhere, path.join(dir, name));
  }
  await t.rejects(readManifestHead(path.join(listFile, 'x')), { code: 'ENOTDIR' }, 'a backup path that cannot be read gives its own error, not "missing"');
  t.same(await plainOf(await readManifest(dir)), good, 'put back as it was, it reads again');
});

t.test(
  'a refused file list is closed at once (Windows could not delete the backup while it is open)',
  { skip: process.platform !== 'linux' && 'reads /proc' },
  async (t) => {
    const dir = await written(await tempDir(t), manifestWith(filesOf(5000)));
    const listFile = path.join(dir, 'files.jsonl');
    const lines = (await readFile(listFile, 'utf8')).split('\n');
    lines[1] = '{';
    await writeFile(listFile, lines.join('\n'));
    for (let i = 0; i < 5; i++) await t.rejects(readManifest(dir), /files\.jsonl is not valid JSON/);
    await new Promise((r) => setImmediate(r));
    t.equal(await handlesIn(dir), 0, 'no handle on files.jsonl is left after five refusals');
  },
);

t.test('writing a manifest again leaves its stored list alone, and a list that fails while being written changes nothing', async (t) => {
  const base = await tempDir(t);
  const dir = await written(base, manifestWith(filesOf(20)));
  const listFile = path.join(dir, 'files.jsonl');
  const before = await stat(listFile);
  await writeManifest(dir, { ...(await readManifest(dir)), status: 'complete' });
  t.equal((await stat(listFile)).ino, before.ino, 'files.jsonl is the same file: it was not written again');

  const manifestText = await readFile(path.join(dir, 'manifest.json'));
  const failing: Manifest['files'] = {
    count: 2,
    bytes: 0,
    stored: false,
    async *[Symbol.asyncIterator]() {
      yield filesOf(1)[0]!;
      throw new Error('the disk went away');
    },
  };
  await t.rejects(writeManifest(dir, { ...(await readManifest(dir)), files: failing }), /the disk went away/, 'the error is reported');
  t.same(await readFile(path.join(dir, 'manifest.json')), manifestText, 'manifest.json is as it was');
  t.equal((await stat(listFile)).ino, before.ino, 'and files.jsonl too');
  t.same((await readdir(dir)).sort(), ['files.jsonl', 'manifest.json'], 'no temp file is left');
});

t.test('a copy named by a manifest must lie inside its backup folder', async (t) => {
  const dir = path.join('/backups', ID);
  t.equal(
    backupCopyPath(dir, 'files/C/Program Files/Kerio/Régle 1.cf'),
    path.join(dir, 'files', 'C', 'Program Files', 'Kerio', 'Régle 1.cf'),
    'a copy below files/',
  );
  for (const relative of ['', 'files\\C\\x.cf', '../x.cf', 'files/../../x.cf', 'files//C/x.cf', 'files/C/', '/etc/passwd', 'C:/Windows/win.ini', 'c:x.cf']) {
    t.throws(
      () => backupCopyPath(dir, relative),
      {
        message: `The backup at ${dir} cannot be trusted: the copy "${relative}" would lie outside the backup folder.`,
        hint: 'Nothing was changed. Use another backup (kerio-dcc backups --verify lists which are intact).',
      },
      `${JSON.stringify(relative)} is refused`,
    );
  }
});

t.test('a manifest may name only the rules folder, the .spamassassin folders, the DCC client folders and the watch files', async (t) => {
  const rules = 'C:\\Program Files\\Kerio\\MailServer\\plugins\\spamassassin\\rules';
  const dcc = ['C:\\Program Files\\DCC', 'C:\\ProgramData\\DCC'];
  const profile = 'C:\\Windows\\System32\\config\\systemprofile';
  const check = (files: string[], created: Manifest['created'] = [], rulesDir = rules) =>
    checkManifestPaths(
      'B',
      { ...manifestWith([]), files: fileListOf(files.map((p) => ({ path: p, backup: 'files/x', size: 0, sha256: '0' }))), created },
      rulesDir,
      'C:\\Windows',
      dcc,
    );
  const allowed = [
    `${rules}\\local.cf`,
    'c:\\program files\\kerio\\mailserver\\plugins\\spamassassin\\rules\\sub\\v310.pre',
    'C:/Program Files/Kerio/MailServer/plugins/spamassassin/rules/local.cf',
    `${profile}\\.spamassassin\\map`,
    'C:\\Windows\\SysWOW64\\config\\systemprofile\\.SpamAssassin',
    'c:\\Users\\svc\\.spamassassin\\user_prefs',
    'C:\\Program Files\\DCC\\dccproc.exe',
    'c:\\programdata\\dcc\\map',
    ANSWERS_COPY,
  ];
  for (const p of allowed) await t.resolves(check([p]), `a backed-up file ${p}`);
  await t.resolves(check([], [], `${rules.toLowerCase()}\\`), 'the same rules folder in another case, with a trailing backslash');
  const refused = [
    'C:\\Windows\\System32\\drivers\\etc\\hosts',
    `${rules}\\..\\..\\evil.cf`,
    `${rules}\\.\\local.cf`,
    `${rules}-old\\local.cf`,
    'C:\\Windows\\.spamassassin\\sub\\deep',
    'D:\\Users\\svc\\.spamassassin\\map',
    'C:\\Program Files\\DCC\\bin\\dccproc.exe',
    'C:\\Program Files\\DCC',
    `${WATCH_FOLDER}\\other.txt`,
  ];
  for (const p of refused) {
    await t.rejects(
      check([p]),
      { message: `The backup at B cannot be trusted: it names ${p}, outside the rules folder and the .spamassassin folders.` },
      `a backed-up file ${p} is refused`,
    );
    await t.rejects(
      check([], [{ type: 'file', path: p }]),
      { message: new RegExp(`it names ${p.replace(/[\\.]/g, '\\$&')}, outside`) },
      `a created file ${p} is refused`,
    );
  }

  const made = (...dirs: string[]): Manifest['created'] => dirs.map((p) => ({ type: 'dir', path: p }));
  await t.resolves(check([], made(`${profile}\\.spamassassin\\`, profile, 'C:\\Windows\\System32\\config')), 'the folders made on the way to a profile folder');
  await t.resolves(check([], made('C:\\Program Files\\DCC', 'C:\\ProgramData')), 'the folders made on the way to the DCC client folders');
  await t.resolves(check([], made(`${rules}\\new folder\\`)), 'a folder made in the rules folder, written with a trailing backslash');
  for (const [what, created] of [
    ['a folder made beside them', made(`${profile}\\.spamassassin`, 'C:\\Temp\\junk')],
    ['a folder above a profile folder that was not made', made(profile)],
    ['a folder above a file named .spamassassin', [{ type: 'file', path: `${profile}\\.spamassassin` }, ...made(profile)]],
    ['a folder above a .spamassassin-old folder', made(`${profile}\\.spamassassin-old`, profile)],
  ] as const) {
    await t.rejects(check([], [...created]), { message: /outside the rules folder and the \.spamassassin folders/ }, `${what} is refused`);
  }

  await t.rejects(
    check([`${rules}\\local.cf`], [], 'D:\\Kerio\\rules'),
    {
      message: `The backup at B was made for the rules folder ${rules}, but this server's is D:\\Kerio\\rules.`,
      hint: 'Roll back on the server the backup was made on, or set kerio.rules_dir in the answers file.',
    },
    'a backup of another rules folder is refused',
  );
});

t.test('a backup that fails while it is started, put in place or cleared leaves no half-made backup', async (t) => {
  const root = await tempDir(t);
  let runs = 0;
  let base = '';
  const fresh = async () => {
    base = path.join(root, `run ${runs++}`);
    await mkdir(base);
  };
  const start = async () => {
    await fresh();
    await (await BackupWriter.create(base, ID)).discard();
  };
  for (const [point, label] of [
    ['making its .partial folder', /^mkdir .*\.partial$/],
    ['creating its file list', /^temp create .*files\.jsonl$/],
  ] as const) {
    await t.rejects(failingAt(t, label, start), { code: 'EIO' }, `a fault ${point} fails it`);
    t.same(await readdir(base), [], `${point}: nothing is left`);
  }

  const { head, tail } = split(manifestWith([]));
  const finish = async () => {
    await fresh();
    await (await BackupWriter.create(base, ID)).finish(head, tail);
  };
  await t.rejects(failingAt(t, /^backup in place /, finish), { code: 'EIO' }, 'a fault as it is put in place fails it');
  t.same(await readdir(base), [`${ID}.partial`], 'it stays a .partial folder');
  t.same(await backupNames(base), [], 'which is not a backup');

  const clear = async () => {
    await fresh();
    await mkdir(path.join(base, `${ID}.partial`));
    return clearInterruptedBackups(base);
  };
  await t.rejects(failingAt(t, /^clear /, clear), { code: 'EIO' }, 'a fault while clearing an interrupted backup is reported');
  t.same(await readdir(base), [`${ID}.partial`], 'and the folder is left for the next run');
});
