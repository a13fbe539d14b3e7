import { cp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import type { Image } from '../src/demo/image.js';
import { PROJECT, hashTree, inImage, kerioOnImage, makeImage, rulesHost, simState, succeeded } from './helpers/cli.js';

/*
 * Backups made by kerio-dcc 0.1.0 (one manifest.json holding the file list) still roll back.
 * The fixture is such a backup, copied unchanged from an install of the demo image by that
 * version (test/fixtures/backup-v1/README.md); the demo image is built the same way here.
 */
const FIXTURE = path.join(PROJECT, 'test', 'fixtures', 'backup-v1');
const ID = '20261202T033052Z';
const BACKUPS = 'C:\\ProgramData\\kerio-dcc\\backups';

t.jobs = 2;

/** A demo image installed by this version, whose backups are replaced by the 0.1.0 one of the same install. */
async function installedWithOldBackup(t: Test): Promise<{ img: Image; original: Record<string, string> }> {
  const img = await makeImage(t);
  const original = await hashTree(rulesHost(img));
  succeeded(t, await kerioOnImage(img, ['install', '--yes']), 'install');
  const backups = inImage(img.root, BACKUPS);
  for (const name of await readdir(backups)) if (/^\d{8}T/.test(name)) await rm(path.join(backups, name), { recursive: true });
  await cp(path.join(FIXTURE, ID), path.join(backups, ID), { recursive: true });
  await rm(path.join(backups, ID, '.gitattributes'), { force: true });
  return { img, original };
}

t.test('a backup in the one-file layout of 0.1.0 is listed, verified and rolled back through the CLI', async (t) => {
  const { img, original } = await installedWithOldBackup(t);
  const oldManifest = await readFile(path.join(inImage(img.root, BACKUPS), ID, 'manifest.json'), 'utf8');
  t.match(oldManifest, /"schema": 1,[^]*"files": \[/, 'the fixture is the one-file layout');

  const verify = await kerioOnImage(img, ['backups', '--verify']);
  succeeded(t, verify, 'backups --verify');
  t.match(
    verify.json.data.backups,
    [{ id: ID, command: 'install', status: 'complete', files: 4, problems: [] }],
    'it is listed with its four files, every copy intact',
  );

  const rollback = await kerioOnImage(img, ['rollback', '--yes']);
  succeeded(t, rollback, 'rollback');
  t.same(rollback.json.data.rolledBack?.id, ID, 'the old backup is the one rolled back');
  t.same(await hashTree(rulesHost(img)), original, 'the rules folder is as before the install, byte for byte');
  t.same((await simState(img)).firewall, [], 'the firewall rules install added are gone');
  t.same(await hashTree(inImage(img.root, 'C:\\Windows\\SysWOW64\\config\\systemprofile')), {}, 'and the profile folder with its map');
  t.equal(await readFile(path.join(inImage(img.root, BACKUPS), ID, 'manifest.json'), 'utf8'), oldManifest, 'the old backup itself is left as it was');
});

t.test('an unfinished run recorded in the one-file layout is restored by the next install, which then provisions', async (t) => {
  const { img, original } = await installedWithOldBackup(t);
  const dir = path.join(inImage(img.root, BACKUPS), ID);
  // As a kill after local.cf leaves it: the manifest says applying, the journal stops after local-cf.
  const manifest = path.join(dir, 'manifest.json');
  await writeFile(manifest, (await readFile(manifest, 'utf8')).replace('"status": "complete"', '"status": "applying"'));
  const journal = (await readFile(path.join(dir, 'journal.jsonl'), 'utf8')).split('\n');
  await writeFile(path.join(dir, 'journal.jsonl'), journal.slice(0, 6).join('\n') + '\n');

  const status = await kerioOnImage(img, ['status']);
  t.equal(status.code, 6, 'status reports drift');
  t.match(status.json.data.checks.find((c: { id: string }) => c.id === 'unfinished')?.detail, `install ${ID} did not finish`, 'naming the unfinished run');

  const install = await kerioOnImage(img, ['install', '--yes']);
  succeeded(t, install, 'install --yes');
  t.match(install.json.warnings.join('\n'), /restored from its backup before this run/, 'it restored the interrupted run first');
  t.match(await readFile(manifest, 'utf8'), /"status": "restored"/, 'the old backup is marked restored');
  t.same((await readdir(dir)).sort(), ['files', 'files.jsonl', 'journal.jsonl', 'manifest.json'], 'and now has the new layout');
  const after = await kerioOnImage(img, ['backups', '--verify']);
  succeeded(t, after, 'backups --verify');
  const rollback = await kerioOnImage(img, ['rollback', '--yes']);
  succeeded(t, rollback, 'rolling back the new install');
  t.same(await hashTree(rulesHost(img)), original, 'gives back the original rules folder');
});
