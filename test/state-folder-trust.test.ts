// Issue 14: only administrators can write what kerio-dcc trusts. The attack end to end on
// images (--root --simulate): a backup and an unfinished-run journal planted by an ordinary
// user in a state folder that kerio-dcc did not secure are never restored.
import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { decodePowershell } from '../src/windows/powershell.js';
import type { Image } from '../src/demo/image.js';
import { SIMULATED_STATE_PATH, loadSimState, saveSimState, type SimState } from '../src/system/simulated.js';
import { ORDINARY_USER_SID, PROGRAMDATA_CHILD_SDDL, USERS_MAY_WRITE_SDDL, folderMadeBy } from '../src/system/simulated/acl.js';
import { hashTree, inImage, kerioOnImage, makeImage, runCli, simState, tempDir, type CliResult } from './helpers/cli.js';

type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

const STATE = 'C:\\ProgramData\\kerio-dcc';
const STATE_KEY = STATE.toLowerCase();
const BACKUPS = `${STATE}\\backups`;
const PLANTED = '20991231T235959Z';
const EVIL = 'loadplugin Evil::Plugin C:\\Users\\Public\\evil.pm\r\n';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const kerio = (img: Image, ...args: string[]): Promise<CliResult> => kerioOnImage(img, args);

async function editSim(img: Image, edit: (s: SimState) => void): Promise<void> {
  const state = await simState(img);
  edit(state);
  await saveSimState(inImage(img.root, SIMULATED_STATE_PATH), state);
}

/** What the previous version left: its state folder has no record of being secured, so it has ProgramData's inherited ACL. */
async function asPreviousVersion(img: Image): Promise<void> {
  await editSim(img, (s) => delete s.acls);
  // The previous version kept no run log.
  await rm(inImage(img.root, 'C:\\ProgramData\\kerio-dcc\\logs'), { recursive: true, force: true });
}

/**
 * What an ordinary user can do in such a folder: a "backup" crafted to match the current
 * files (its `after` hashes are theirs, so no --force is needed) whose local.cf loads the
 * user's Perl, and a journal saying the run that made it was interrupted.
 */
async function plantBackup(img: Image): Promise<void> {
  const local = `${img.rulesDir}\\local.cf`;
  const current = await readFile(inImage(img.root, local));
  const hostile = Buffer.concat([current, Buffer.from(EVIL, 'latin1')]);
  const dir = inImage(img.root, `${BACKUPS}\\${PLANTED}`);
  const copy = `files/C/${local.slice(3).split('\\').join('/')}`;
  await mkdir(path.join(dir, ...path.posix.dirname(copy).split('/')), { recursive: true });
  await writeFile(path.join(dir, ...copy.split('/')), hostile);
  const manifest = {
    schema: 1,
    tool: 'kerio-dcc',
    toolVersion: '0.1.0',
    id: PLANTED,
    command: 'install',
    createdAt: '2099-12-31T23:59:59.000Z',
    finishedAt: null,
    status: 'applying',
    target: { root: null, rulesDir: img.rulesDir, installDir: img.installDir, service: 'KerioMailServer' },
    answersFile: null,
    changes: ['local-cf'],
    files: [{ path: local, backup: copy, size: hostile.length, sha256: sha(hostile), after: sha(current) }],
    created: [],
    firewall: [],
    skipped: [],
  };
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  await writeFile(path.join(dir, 'journal.jsonl'), `${JSON.stringify({ at: '2099-12-31T23:59:59.500Z', step: 'local-cf', event: 'start' })}\n`);
}

async function installed(t: Tap): Promise<Image> {
  const img = await makeImage(t);
  const run = await kerio(img, 'install', '--yes');
  if (run.code !== 0) throw new Error(`install failed: ${run.json?.error?.message}`);
  return img;
}

async function copyOf(t: Tap, img: Image): Promise<Image> {
  const root = await tempDir(t);
  await cp(img.root, root, { recursive: true });
  return { ...img, root };
}

const localCf = (img: Image) => readFile(inImage(img.root, `${img.rulesDir}\\local.cf`), 'latin1');

/** Exit 3, the image unchanged byte for byte (files, firewall, service, the simulation's state), the folder and the fix named, no restore advised. */
async function refused(t: Tap, img: Image, args: string[], why: RegExp): Promise<void> {
  const before = await hashTree(img.root);
  const run = await kerio(img, ...args);
  t.equal(run.code, 3, `${args.join(' ')} exits 3`, { error: run.json?.error });
  t.same(await hashTree(img.root), before, `${args.join(' ')} changes nothing, byte for byte`);
  const text = `${run.json?.error?.message}\n${run.json?.error?.hint}`;
  t.match(text, `kerio-dcc does not trust what is in ${STATE}`, 'names the folder');
  t.match(text, why, 'names what is wrong with it, by SID');
  t.match(text, /run as LocalSystem|runs as LocalSystem/, 'says why it matters');
  t.match(run.json?.error?.hint, `kerio-dcc backups --secure --yes --root ${img.root} --simulate`, 'and gives the command that fixes it');
  t.notMatch(text, new RegExp(`rollback ${PLANTED}|rollback --|kerio-dcc rollback`), 'never advises restoring from a backup in it');
  t.same(
    run.json?.commands.filter((c: { mutates: boolean }) => c.mutates),
    [],
    'no changing command ran',
  );
  t.notMatch(await localCf(img), /Evil::Plugin/);
}

t.test('the attack: a planted backup and journal in a state folder left by the previous version are refused by install, uninstall and rollback', async (t) => {
  const img = await installed(t);
  await asPreviousVersion(img);
  await plantBackup(img);

  // The plant is good: in a folder kerio-dcc trusted, install --yes would restore it (as every version before this one did).
  const control = await copyOf(t, img);
  await editSim(control, (s) => (s.acls = { [STATE_KEY]: { sddl: 'O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)' } }));
  const trusted = await kerio(control, 'install', '--yes');
  t.equal(trusted.code, 0);
  t.match(await localCf(control), /Evil::Plugin/, "control: a trusted folder's unfinished run is restored, hostile line and all");

  const usersMayWrite = /\(A;CIID;DCLCRPCR;;;BU\) lets S-1-5-32-545 \(BUILTIN\\Users\) create files/;
  await refused(t, img, ['install', '--yes'], usersMayWrite);
  await refused(t, img, ['uninstall', '--yes'], usersMayWrite);
  await refused(t, img, ['rollback', '--yes', '--force'], usersMayWrite);
  await refused(t, img, ['rollback', PLANTED, '--yes', '--force'], usersMayWrite);
  await refused(t, img, ['backups'], usersMayWrite);
  await refused(t, img, ['install', '--dry-run'], usersMayWrite);

  const status = await kerio(img, 'status');
  t.equal(status.code, 6, 'status: exit 6');
  const check = status.json.data.checks.find((c: { id: string }) => c.id === 'state-folder');
  t.equal(check.ok, false);
  t.match(check.detail, usersMayWrite);
  t.equal(
    status.json.data.checks.find((c: { id: string }) => c.id === 'unfinished').ok,
    null,
    'nothing in the untrusted folder is read, not even to report the interrupted run',
  );
  t.match(status.json.error.hint, `make it safe with: kerio-dcc backups --secure --yes --root ${img.root} --simulate`);
  t.notMatch(status.json.error.hint, /rollback/);

  // The administrator looks, removes what they did not put there, and secures the folder.
  t.same((await readdir(inImage(img.root, BACKUPS))).length, 2, 'the listing shows two backups: theirs and the planted one');
  await rm(inImage(img.root, `${BACKUPS}\\${PLANTED}`), { recursive: true });
  const secure = await kerio(img, 'backups', '--secure', '--yes');
  t.equal(secure.code, 0, 'backups --secure --yes exits 0', { error: secure.json?.error });
  t.equal(secure.json.changed, true);
  const step = secure.json.steps.find((s: { id: string }) => s.id === 'permissions');
  t.match(step.detail, `make Administrators the owner of ${STATE}`);
  t.match(step.notes.join('\n'), /holds 2 item\(s\): backups, simulated-system.json/, 'shows what is in the folder');
  const sim = await loadSimState(inImage(img.root, SIMULATED_STATE_PATH));
  t.equal(
    sim?.acls?.[STATE_KEY]?.sddl,
    'O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)',
    'the folder is now owned by Administrators, protected, SYSTEM and Administrators only',
  );

  // The same commands work as before.
  const uninstall = await kerio(img, 'uninstall', '--yes');
  t.equal(uninstall.code, 0, 'uninstall --yes works again', { error: uninstall.json?.error });
  const rollback = await kerio(img, 'rollback', '--yes', '--force');
  t.equal(rollback.code, 0, 'rollback --yes --force works again (it undoes the uninstall)', { error: rollback.json?.error });
  t.equal(rollback.json.data.rolledBack.command, 'uninstall', 'the default rollback skips backups --secure');
  const install = await kerio(img, 'install', '--yes');
  t.equal(install.code, 0, 'install --yes works again');
  t.equal((await kerio(img, 'status')).code, 0, 'and status is all ok');
  t.notMatch(await localCf(img), /Evil::Plugin/);
});

t.test('after backups --secure, a planted backup that the administrator kept is theirs to trust: the commands work as before', async (t) => {
  const img = await installed(t);
  await asPreviousVersion(img);
  await plantBackup(img);
  t.equal((await kerio(img, 'backups', '--secure', '--yes')).code, 0);
  const install = await kerio(img, 'install', '--yes');
  t.equal(install.code, 0, 'install --yes recovers the interrupted run, as before this change');
  t.match(install.json.warnings.join('\n'), `backup ${PLANTED}`);
});

t.test('a state folder an ordinary user made and owns, before kerio-dcc ever ran, is refused the same way', async (t) => {
  const img = await makeImage(t);
  // The user creates C:\ProgramData\kerio-dcc first (which Windows lets them), with a plant inside.
  await saveSimState(inImage(img.root, SIMULATED_STATE_PATH), { ...(await simState(img)), acls: { [STATE_KEY]: { sddl: folderMadeBy(ORDINARY_USER_SID) } } });
  await plantBackup(img);
  const owner = new RegExp(`owned by ${ORDINARY_USER_SID} \\(a local or domain account\\), not by Administrators or SYSTEM`);
  await refused(t, img, ['install', '--yes'], owner);
  await refused(t, img, ['rollback', '--yes', '--force'], owner);
  const secure = await kerio(img, 'backups', '--secure', '--yes');
  t.equal(secure.code, 0, { error: secure.json?.error });
  const commands = secure.json.commands
    .filter((c: { mutates: boolean }) => c.mutates)
    .map((c: { program: string; args: string[] }) => `${path.win32.basename(c.program)} ${c.args.join(' ')}`);
  t.match(
    commands.join('\n'),
    `icacls.exe ${STATE}\\* /setowner *S-1-5-32-544 /T /C /L /Q`,
    'everything inside is given to Administrators (SIDs, never names), links not followed',
  );
  t.match(commands.join('\n'), `icacls.exe ${STATE}\\* /reset /T /C /L /Q`, 'and made to inherit the safe ACL');
  const manifest = JSON.parse(await readFile(inImage(img.root, `${BACKUPS}\\${path.win32.basename(secure.json.backup)}\\manifest.json`), 'utf8'));
  t.same(
    manifest.acls,
    [{ path: STATE, before: folderMadeBy(ORDINARY_USER_SID), after: 'O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)' }],
    'its backup records the owner and DACL it replaced',
  );
});

t.test('an explicit entry that lets Users write is refused, reported by status and doctor with exit 6, and fixed', async (t) => {
  const img = await installed(t);
  await editSim(img, (s) => (s.acls = { [STATE_KEY]: { sddl: USERS_MAY_WRITE_SDDL } }));
  await refused(t, img, ['install', '--yes'], /\(A;OICI;0x1301bf;;;BU\) lets S-1-5-32-545 \(BUILTIN\\Users\)/);
  for (const command of ['status', 'doctor']) {
    const run = await kerio(img, command);
    t.equal(run.code, 6, `${command}: exit 6`);
    t.equal(run.json.data.checks.find((c: { id: string }) => c.id === 'state-folder').ok, false);
  }
  const dry = await kerio(img, 'backups', '--secure', '--dry-run');
  t.equal(dry.code, 0);
  t.equal(dry.json.steps.find((s: { id: string }) => s.id === 'permissions').status, 'would-change', 'the dry run shows the change');
  t.equal((await loadSimState(inImage(img.root, SIMULATED_STATE_PATH)))?.acls?.[STATE_KEY]?.sddl, USERS_MAY_WRITE_SDDL, 'and makes none');
  t.equal((await kerio(img, 'backups', '--secure')).code, 2, 'unattended without --yes: exit 2, nothing asked');
  const secure = await kerio(img, 'backups', '--secure', '--yes');
  t.equal(secure.code, 0);
  const again = await kerio(img, 'backups', '--secure', '--yes');
  t.equal(again.code, 0);
  t.equal(again.json.changed, false, 'a second run changes nothing and says so');
  t.equal(again.json.backup, null);
  t.equal((await kerio(img, 'status')).code, 0);
});

t.test('backups --secure is undone by rollback ID, which warns that the permissions put back are unsafe', async (t) => {
  const img = await installed(t);
  await asPreviousVersion(img);
  const secure = await kerio(img, 'backups', '--secure', '--yes');
  const id = path.win32.basename(secure.json.backup);
  const rollback = await kerio(img, 'rollback', id, '--yes');
  t.equal(rollback.code, 0, { error: rollback.json?.error });
  t.match(rollback.json.steps.find((s: { id: string }) => s.id === 'permissions').notes.join('\n'), 'are not safe');
  t.equal((await loadSimState(inImage(img.root, SIMULATED_STATE_PATH)))?.acls?.[STATE_KEY]?.sddl, PROGRAMDATA_CHILD_SDDL, 'the inherited ACL is back');
  t.equal((await kerio(img, 'install', '--yes')).code, 3, 'and kerio-dcc refuses the folder again');
});

t.test('a fresh server: the state folder is created owned by Administrators and protected before anything is written in it', async (t) => {
  const img = await makeImage(t);
  const run = await kerio(img, 'install', '--yes');
  t.equal(run.code, 0);
  const calls = run.json.commands.map((c: { program: string; args: string[] }) => path.win32.basename(c.program));
  t.equal(calls[0], 'powershell.exe', 'the first system command creates the folder with its ACL at once, before the lock and the backup');
  t.equal((await loadSimState(inImage(img.root, SIMULATED_STATE_PATH)))?.acls?.[STATE_KEY]?.sddl, 'O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)');
  t.equal((await kerio(img, 'status')).json.data.checks.find((c: { id: string }) => c.id === 'state-folder').ok, true);
});

t.test('a backup folder elsewhere (answers) is checked and created safe too', async (t) => {
  const img = await makeImage(t);
  const answers = path.join(await tempDir(t), 'a.ini');
  await writeFile(answers, '[backup]\ndir = C:\\Kerio Backups\n');
  const run = await kerio(img, 'install', '--yes', '--answers', answers);
  t.equal(run.code, 0, { error: run.json?.error });
  const sim = await loadSimState(inImage(img.root, SIMULATED_STATE_PATH));
  t.equal(sim?.acls?.['c:\\kerio backups']?.sddl, 'O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)');
  await editSim(img, (s) => delete s.acls!['c:\\kerio backups']);
  const refusedRun = await kerio(img, 'rollback', '--yes', '--answers', answers);
  t.equal(refusedRun.code, 3);
  t.match(refusedRun.json.error.message, 'C:\\Kerio Backups: it inherits permissions');
});

t.test('--root without --simulate: the check is skipped, and the run says so once', async (t) => {
  const img = await makeImage(t);
  const run = await runCli(['install', '--root', img.root, '--yes', '--json']);
  t.equal(run.code, 0, { error: run.json?.error });
  t.same(run.json.warnings.filter((w: string) => /permissions were not checked: the target is an image/.test(w)).length, 1);
  const secure = await runCli(['backups', '--secure', '--yes', '--root', img.root, '--json']);
  t.equal(secure.code, 3, 'backups --secure needs a system to set permissions on');
});

t.test('links and junctions in the backup folder are never followed', async (t) => {
  const img = await installed(t);
  const elsewhere = await tempDir(t);
  // A planted backup outside, reached through a link in the (trusted) backup folder.
  const outside = await copyOf(t, img);
  await plantBackup(outside);
  await cp(inImage(outside.root, `${BACKUPS}\\${PLANTED}`), path.join(elsewhere, PLANTED), { recursive: true });
  await symlink(path.join(elsewhere, PLANTED), inImage(img.root, `${BACKUPS}\\${PLANTED}`), 'dir');
  const install = await kerio(img, 'install', '--yes');
  t.equal(install.code, 0);
  t.notMatch(await localCf(img), /Evil::Plugin/, 'a linked backup folder is not a backup');
  const rollback = await kerio(img, 'rollback', PLANTED, '--yes', '--force');
  t.equal(rollback.code, 3, 'and cannot be named either');
  // A manifest that is a link is refused.
  // The image's own backup, not the planted link (a name of the same second may carry -2: docs/backup-format.md).
  const real = (await readdir(inImage(img.root, BACKUPS))).find((n) => n !== PLANTED && /^\d{8}T\d{6}Z(-\d+)?$/.test(n))!;
  const manifest = inImage(img.root, `${BACKUPS}\\${real}\\manifest.json`);
  await cp(manifest, path.join(elsewhere, 'm.json'));
  await rm(manifest);
  await symlink(path.join(elsewhere, 'm.json'), manifest);
  const linked = await kerio(img, 'rollback', real, '--yes', '--force');
  t.equal(linked.code, 3);
  t.match(linked.json.error.message, 'manifest.json is a link');
});

t.test('status reports a profile folder or map that someone other than administrators may write (exit 6)', async (t) => {
  const img = await installed(t);
  const ok = await kerio(img, 'status');
  const check = (run: CliResult) => run.json.data.checks.find((c: { id: string }) => c.id === 'profile-acl');
  t.equal(check(ok).ok, true, 'what install made in the SYSTEM profile inherits its administrators-only ACL');
  const profile = 'C:\\Windows\\SysWOW64\\config\\systemprofile\\.spamassassin';
  await editSim(
    img,
    (s) => (s.acls = { ...s.acls, [profile.toLowerCase()]: { sddl: 'O:BAG:SYD:AI(A;OICI;0x1301bf;;;AU)(A;OICIID;FA;;;SY)(A;OICIID;FA;;;BA)' } }),
  );
  const drift = await kerio(img, 'status');
  t.equal(drift.code, 6);
  t.equal(check(drift).ok, false);
  t.match(check(drift).detail, `${profile}: (A;OICI;0x1301bf;;;AU) lets S-1-5-11 (NT AUTHORITY\\Authenticated Users)`);
  const aclReads = drift.json.commands.filter(
    (c: { program: string; args: string[] }) => c.program.endsWith('powershell.exe') && decodePowershell(c.args)?.kind !== 'firewall-rules',
  );
  t.equal(aclReads.length, 1, 'the state folder, profile folder and map are read in one PowerShell call');
});

t.test('backups --secure on a server without a state folder makes it, safe, and leaves it there', async (t) => {
  const img = await makeImage(t);
  const run = await kerio(img, 'backups', '--secure', '--yes');
  t.equal(run.code, 0, 'exit 0', { error: run.json?.error });
  const state = await loadSimState(inImage(img.root, SIMULATED_STATE_PATH));
  t.ok(state, 'the state folder is there, with the simulated system kept in it');
  t.match(state?.acls?.[STATE_KEY], { sddl: /^O:BAG:SYD:PAI\(A;OICI;FA;;;SY\)\(A;OICI;FA;;;BA\)$/ }, 'made safe: SYSTEM and Administrators only');
});

t.test('a run that changes nothing on a server without a state folder leaves none behind', async (t) => {
  const img = await makeImage(t);
  const before = await hashTree(img.root);
  const run = await kerio(img, 'uninstall', '--yes');
  t.equal(run.code, 0, 'exit 0', { error: run.json?.error });
  t.equal(run.json?.changed, false, 'uninstall had nothing to do');
  t.same(await hashTree(img.root), before, 'the image is as it was: the folders made for the lock are gone again');
});
