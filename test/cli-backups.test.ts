import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import t, { type Test } from 'tap';
import type { Image } from '../src/demo/image.js';
import { basenameWin, joinWin } from '../src/target/target.js';
import { readBackupJson, writeBackupJson } from './helpers/backupStore.js';
import { PROJECT, hashTree, inImage, makeImage, tempDir, type CliResult, kerioOnImage, succeeded, kerioOk } from './helpers/cli.js';

// Each test works on its own image, so two can run at once.
t.jobs = 2;

const BACKUPS = 'C:\\ProgramData\\kerio-dcc\\backups';
const HOSTS = 'C:\\Windows\\System32\\drivers\\etc\\hosts';
const FAILING_DISK = pathToFileURL(path.join(PROJECT, 'test', 'helpers', 'failing-disk.mjs')).href;
const kerio = (img: Image, ...args: string[]): Promise<CliResult> => kerioOnImage(img, args);

const run = kerioOk;

function backupId(result: CliResult): string {
  if (typeof result.json?.backup !== 'string') throw new Error(`the run reported no backup: ${result.stdout}${result.stderr}`);
  return basenameWin(result.json.backup);
}

function backupHost(img: Image, id: string): string {
  return inImage(img.root, joinWin(BACKUPS, id));
}

async function backupIds(img: Image): Promise<string[]> {
  return (await readdir(inImage(img.root, BACKUPS))).filter((n) => /^\d{8}T\d{6}Z/.test(n)).sort();
}

interface ManifestFile {
  path: string;
  backup: string;
  size: number;
  sha256: string;
}

async function readManifestJson(img: Image, id: string): Promise<any> {
  return readBackupJson(backupHost(img, id));
}

async function writeManifestJson(img: Image, id: string, manifest: unknown): Promise<void> {
  await writeBackupJson(backupHost(img, id), manifest);
}

// ---------------------------------------------------------------------------- images

const wholeFile = t;
interface Prepared {
  img: Image;
  installId: string;
  uninstallId: string | null;
}
let installedOnce: Promise<Prepared> | null = null;
let uninstalledOnce: Promise<Prepared> | null = null;

/** For fixtures, which belong to no single test: a failed run throws instead of asserting. */
async function mustRun(img: Image, command: string): Promise<CliResult> {
  const result = await kerio(img, command, '--yes');
  if (result.code !== 0) throw new Error(`${command} failed (${result.code}): ${result.stdout}${result.stderr}`);
  return result;
}

async function copyOf(t: Test, source: Prepared): Promise<Prepared> {
  const root = await tempDir(t);
  await cp(source.img.root, root, { recursive: true });
  return { ...source, img: { ...source.img, root } };
}

/** A copy of one image that install ran on once for this file. */
async function installedCopy(t: Test): Promise<Prepared> {
  installedOnce ??= (async () => {
    const img = await makeImage(wholeFile, {}, 'kerio-dcc-installed-');
    return { img, installId: backupId(await mustRun(img, 'install')), uninstallId: null };
  })();
  return copyOf(t, await installedOnce);
}

/** A copy of one image that install, then uninstall, ran on once for this file. */
async function uninstalledCopy(t: Test): Promise<Prepared> {
  uninstalledOnce ??= (async () => {
    const source = await installedCopy(wholeFile);
    return { ...source, uninstallId: backupId(await mustRun(source.img, 'uninstall')) };
  })();
  return copyOf(t, await uninstalledOnce);
}

// ---------------------------------------------------------------------------- listing and verifying

t.test('backups lists every backup newest first, with what each run was and what it changed', async (t) => {
  const { img, installId, uninstallId } = await uninstalledCopy(t);
  const list = await kerio(img, 'backups');
  succeeded(t, list, 'backups');
  t.equal(list.json.schema, 1);
  const rows = list.json.data.backups;
  t.same(
    rows.map((r: { id: string }) => r.id),
    [uninstallId, installId],
    'newest first',
  );
  t.same(
    rows.map((r: { command: string }) => r.command),
    ['uninstall', 'install'],
  );
  t.same(
    rows.map((r: { status: string }) => r.status),
    ['complete', 'complete'],
  );
  t.ok(
    rows[1].changes.includes('local-cf') && rows[1].changes.includes('v310-pre') && rows[1].changes.includes('firewall'),
    `install's changes are listed: ${rows[1].changes}`,
  );
  t.ok(
    rows.every((r: { files: number; bytes: number }) => r.files > 0 && r.bytes > 0),
    'each names how much it holds',
  );
  t.equal(rows[0].problems, null, 'nothing is re-hashed without --verify');
});

t.test('backups --verify passes intact backups and names the file whose copy was altered or deleted', async (t) => {
  const { img, installId, uninstallId } = await uninstalledCopy(t);
  const intact = await kerio(img, 'backups', '--verify');
  succeeded(t, intact, 'backups --verify on intact backups');
  t.same(
    intact.json.data.backups.map((r: { problems: string[] }) => r.problems),
    [[], []],
  );

  const altered = (await readManifestJson(img, installId)).files.find((f: ManifestFile) => f.path.endsWith('\\local.cf'));
  await writeFile(path.join(backupHost(img, installId), ...altered.backup.split('/')), 'score DCC_CHECK 0\r\n');
  const deleted = (await readManifestJson(img, uninstallId!)).files.find((f: ManifestFile) => f.path.endsWith('\\v310.pre'));
  await rm(path.join(backupHost(img, uninstallId!), ...deleted.backup.split('/')));

  const damaged = await kerio(img, 'backups', '--verify');
  t.equal(damaged.code, 3, 'a damaged backup makes --verify exit 3');
  t.equal(damaged.json.ok, false);
  const [uninstallRow, installRow] = damaged.json.data.backups;
  t.match(installRow.problems.join('\n'), /rules\\local\.cf: the copy .* was altered/, 'the altered copy is named');
  t.match(uninstallRow.problems.join('\n'), /rules\\v310\.pre: the copy .* is missing/, 'the deleted copy is named');
  t.match(damaged.json.error.message, new RegExp(`${uninstallId}.*${installId}|${installId}.*${uninstallId}`), 'the error names both backups');
});

t.test('with backup.keep = 2, after four changing runs only the newest two backups remain', async (t) => {
  const img = await makeImage(t);
  const answers = path.join(await tempDir(t), 'keep.ini');
  await writeFile(answers, '[backup]\nkeep = 2\n');
  const made: string[] = [];
  for (const command of ['install', 'uninstall', 'install', 'uninstall']) made.push(backupId(await run(t, img, command, '--answers', answers)));
  t.same(await backupIds(img), made.slice(2).sort(), 'the two newest are kept, the two oldest removed');
});

t.test('retention never removes the backup the run just made, even when the clock makes it look older', async (t) => {
  const { img, installId } = await installedCopy(t);
  // A backup from a clock that was ahead: by its name it is newer than anything made now.
  const future = '29991231T235959Z';
  await cp(backupHost(img, installId), backupHost(img, future), { recursive: true });
  await writeManifestJson(img, future, { ...(await readManifestJson(img, future)), id: future });

  const answers = path.join(await tempDir(t), 'keep.ini');
  await writeFile(answers, '[backup]\nkeep = 1\n');
  const uninstall = await run(t, img, 'uninstall', '--answers', answers);
  const left = await backupIds(img);
  t.ok(left.includes(backupId(uninstall)), `the uninstall's own backup is kept: ${left.join(', ')}`);
  t.notOk(left.includes(installId), 'the older install backup is removed');
});

t.test('a backup copy that does not read back as written (a failing disk) stops install with exit 3 before any change', async (t) => {
  const img = await makeImage(t);
  const before = await hashTree(img.root);
  const result = await kerioOnImage(img, ['install', '--yes'], { NODE_OPTIONS: `--import ${FAILING_DISK}`, FAILING_DISK_BELOW: inImage(img.root, BACKUPS) });
  t.equal(result.code, 3, 'refused with exit 3', { error: result.json?.error ?? null, stderr: result.stderr });
  t.match(
    `${result.json?.error?.message}`,
    /The backup copy of C:\\.*\\rules\\\S+ does not match the original after copying/,
    'the message names the file whose copy is bad',
  );
  t.match(`${result.json?.error?.hint}`, /disk may be failing or full\. Nothing was changed/);
  t.same(await hashTree(img.root), before, 'no byte of the image changed, and no half-made backup is left');
});

// ---------------------------------------------------------------------------- tampered backups

async function refusedUnchanged(t: Test, img: Image, args: string[], names: RegExp): Promise<void> {
  const before = await hashTree(img.root);
  // --force too: it may overrule later edits by an administrator, never a failed check.
  const rollback = await kerio(img, 'rollback', ...args, '--yes', '--force');
  t.equal(rollback.code, 3, 'refused with exit 3', { error: rollback.json?.error ?? null, stderr: rollback.stderr });
  t.equal(rollback.json?.schema, 1, 'and reported as JSON');
  t.match(`${rollback.json?.error?.message}`, names, 'the message names the problem');
  t.same(await hashTree(img.root), before, 'nothing in the image changed');
}

async function editManifest(img: Image, id: string, edit: (manifest: any) => void): Promise<void> {
  const manifest = await readManifestJson(img, id);
  edit(manifest);
  await writeManifestJson(img, id, manifest);
}

t.test('rollback refuses a backup whose copy of local.cf was altered, naming it, and changes nothing', async (t) => {
  const { img, installId } = await installedCopy(t);
  const entry = (await readManifestJson(img, installId)).files.find((f: ManifestFile) => f.path.endsWith('\\local.cf'));
  await writeFile(path.join(backupHost(img, installId), ...entry.backup.split('/')), 'loadplugin Evil C:\\evil.pm\r\n');
  await refusedUnchanged(t, img, [installId], /rules\\local\.cf: the copy .* was altered/);
});

t.test('rollback refuses a backup with a copy missing, naming it, and changes nothing', async (t) => {
  const { img, installId } = await installedCopy(t);
  const entry = (await readManifestJson(img, installId)).files.find((f: ManifestFile) => f.path.endsWith('\\v310.pre'));
  await rm(path.join(backupHost(img, installId), ...entry.backup.split('/')));
  await refusedUnchanged(t, img, [installId], /rules\\v310\.pre: the copy .* is missing/);
});

t.test('rollback refuses a manifest that would overwrite the hosts file, and changes nothing', async (t) => {
  const { img, installId } = await installedCopy(t);
  await mkdir(path.dirname(inImage(img.root, HOSTS)), { recursive: true });
  await writeFile(inImage(img.root, HOSTS), '127.0.0.1 localhost\r\n');
  // The copy and its hash stay consistent: only the path check can stop this.
  await editManifest(img, installId, (m) => {
    m.files.find((f: ManifestFile) => f.path.endsWith('\\local.cf')).path = HOSTS;
  });
  await refusedUnchanged(t, img, [installId], /drivers\\etc\\hosts/);
});

t.test('an "unfinished" run whose manifest was edited to name the hosts file does not make install --yes overwrite it', async (t) => {
  const { img, installId } = await installedCopy(t);
  const hostsBytes = '127.0.0.1 localhost\r\n';
  await mkdir(path.dirname(inImage(img.root, HOSTS)), { recursive: true });
  await writeFile(inImage(img.root, HOSTS), hostsBytes);
  // Made to look like a run killed half-way: the next changing run restores it at once, with --yes without asking.
  await editManifest(img, installId, (m) => {
    m.status = 'applying';
    m.finishedAt = null;
    const entry = m.files.find((f: ManifestFile) => f.path.endsWith('\\local.cf'));
    entry.path = HOSTS;
    // As if the run had written the hosts file's present bytes: nothing but the path check stands in the way.
    entry.after = createHash('sha256').update(hostsBytes).digest('hex');
  });
  await rm(path.join(backupHost(img, installId), 'journal.jsonl'));
  const status = await kerio(img, 'status');
  t.match(
    status.json?.data?.checks?.find((c: { id: string }) => c.id === 'unfinished')?.detail,
    `install ${installId} did not finish`,
    'status takes it for an interrupted run (else this proves nothing)',
  );
  const before = await hashTree(img.root);

  const install = await kerio(img, 'install', '--yes');
  t.equal(install.code, 3, 'refused with exit 3', { error: install.json?.error ?? null, stderr: install.stderr });
  t.match(
    `${install.json?.error?.message}`,
    /cannot be trusted: it names C:\\Windows\\System32\\drivers\\etc\\hosts, outside the rules folder/,
    'the message names the path and why',
  );
  t.equal(await readFile(inImage(img.root, HOSTS), 'latin1'), hostsBytes, 'the hosts file is untouched');
  t.same(await hashTree(img.root), before, 'nothing in the image changed');
});

t.test('rollback refuses a manifest that would delete the hosts file as something the run created', async (t) => {
  const { img, installId } = await installedCopy(t);
  await mkdir(path.dirname(inImage(img.root, HOSTS)), { recursive: true });
  await writeFile(inImage(img.root, HOSTS), '127.0.0.1 localhost\r\n');
  const sha256 = createHash('sha256').update('127.0.0.1 localhost\r\n').digest('hex');
  await editManifest(img, installId, (m) => {
    m.created.push({ type: 'file', path: HOSTS, sha256 });
  });
  await refusedUnchanged(t, img, [installId], /drivers\\etc\\hosts/);
});

t.test('rollback refuses a manifest path that climbs out of the rules folder with ..', async (t) => {
  const { img, installId } = await installedCopy(t);
  await editManifest(img, installId, (m) => {
    const entry = m.files.find((f: ManifestFile) => f.path.endsWith('\\local.cf'));
    entry.path = `${m.target.rulesDir}\\..\\..\\..\\..\\..\\..\\Windows\\win.ini`;
  });
  await refusedUnchanged(t, img, [installId], /\.\.\\/);
});

t.test('rollback refuses a manifest whose copy would be read from outside the backup folder', async (t) => {
  const { img, installId } = await installedCopy(t);
  await editManifest(img, installId, (m) => {
    m.files.find((f: ManifestFile) => f.path.endsWith('\\local.cf')).backup = '../../../../../Windows/win.ini';
  });
  await refusedUnchanged(t, img, [installId], /outside the backup folder/);
});

t.test('rollback refuses a manifest that names the rules folder on another drive', async (t) => {
  const { img, installId } = await installedCopy(t);
  await editManifest(img, installId, (m) => {
    const entry = m.files.find((f: ManifestFile) => f.path.endsWith('\\local.cf'));
    entry.path = `D:${entry.path.slice(2)}`;
  });
  await refusedUnchanged(t, img, [installId], /D:\\/);
});

t.test('rollback refuses a manifest that names a .spamassassin folder on another drive', async (t) => {
  const { img, installId } = await installedCopy(t);
  await editManifest(img, installId, (m) => {
    const entry = m.files.find((f: ManifestFile) => f.path.endsWith('\\local.cf'));
    entry.path = 'D:\\.spamassassin\\user_prefs';
  });
  await refusedUnchanged(t, img, [installId], /D:\\\.spamassassin/);
});

t.test('rollback refuses a backup whose manifest is not JSON, naming the manifest', async (t) => {
  const { img, installId } = await installedCopy(t);
  await writeFile(path.join(backupHost(img, installId), 'manifest.json'), '{"schema": 1, "files": [');
  await refusedUnchanged(t, img, [installId], /manifest\.json is not valid JSON/);
});

t.test('rollback without an id refuses when the newest backup is unreadable, instead of undoing an older run', async (t) => {
  const { img, uninstallId } = await uninstalledCopy(t);
  await writeFile(path.join(backupHost(img, uninstallId!), 'manifest.json'), 'not json');
  await refusedUnchanged(t, img, [], new RegExp(`${uninstallId}|manifest\\.json`));
});
