// Making a backup (src/store/create.ts) and keeping only the newest ones (src/store/prune.ts), as
// units: the CLI suites reach both on every changing run, but see only what a run prints. Here a
// plan is data written by hand, so each thing a backup records is checked against what the plan
// asked for: every file of the rules folder, what the run will leave at each path, what it will
// create, the firewall rules and folder permissions before and after, and the refusals.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { cp, mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { locate, type Location } from '../src/detect/locate.js';
import { step, type Action, type Plan } from '../src/model/plan.js';
import * as files from '../src/fs/files.js';
import { createBackup, markBackup } from '../src/store/create.js';
import { readManifestHead } from '../src/store/format.js';
import { compareIds, listBackupDirs, pruneBackups } from '../src/store/prune.js';
import { findUnfinishedRun } from '../src/store/unfinished.js';
import { joinWin } from '../src/target/target.js';
import { TOOL_VERSION } from '../src/version.js';
import { SIMULATED_STATE_PATH, saveSimState } from '../src/system/simulated.js';
import { USERS_MAY_WRITE_SDDL } from '../src/system/simulated/acl.js';
import { forgetVerdict } from '../src/trust/stateFolder.js';
import { SAFE_FOLDER_SDDL } from '../src/windows/acl.js';
import type { FirewallRule } from '../src/windows/firewallRule.js';
import { readBackupJson } from './helpers/backupStore.js';
import { inImage, makeImage, simState, tempDir } from './helpers/cli.js';
import { runContext } from './helpers/context.js';
import { failingAt } from './helpers/faults.js';

const BACKUPS = 'C:\\ProgramData\\kerio-dcc\\backups';
const PROFILE = 'C:\\Windows\\SysWOW64\\config\\systemprofile\\.spamassassin';
const NOW = new Date('2026-12-03T08:00:00.000Z');
const ID = '20261203T080000Z';
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/**
 * A run's context on a fresh demo image, its clock fixed at NOW; `ini`: an answers file's text;
 * without `simulate`, an image alone, whose folder permissions are not checked or made.
 */
async function setup(t: Test, ini?: string, simulate = true) {
  const img = await makeImage(t);
  const { ctx, warnings } = await runContext(t, img.root, { values: { simulate }, ...(ini === undefined ? {} : { ini }) });
  let clock = NOW;
  ctx.now = () => clock;
  const location = await locate(ctx, { requireDcc: false });
  return {
    ctx,
    img,
    location,
    warnings,
    base: inImage(img.root, BACKUPS),
    host: (p: string) => inImage(img.root, p),
    setClock: (d: Date) => (clock = d),
  };
}

const rule = (name: string, profiles: string): FirewallRule =>
  ({ name, enabled: true, direction: 'in', profiles, protocol: 'UDP', localPort: 'Any', remotePort: '6277', action: 'allow' }) as FirewallRule;

const firewall = (ruleName: string, before: FirewallRule[], after: FirewallRule[]): Action => ({
  kind: 'firewall',
  request: { program: 'C:\\Windows\\System32\\netsh.exe', args: ['advfirewall'], mutates: true },
  ruleName,
  before,
  after,
});

/** A plan as install makes one, by hand: each kind of action a backup records something of. */
function handPlan(location: Location, extra: Partial<Plan> = {}): Plan {
  const localCf = joinWin(location.rulesDir, 'local.cf');
  return {
    command: 'install',
    steps: [
      step('locate', 'Locate Kerio', { status: 'unchanged', detail: '' }),
      step('backup', 'Back up', { status: 'change', detail: '' }),
      step('profile', 'Profile folder', { status: 'change', detail: '', actions: [{ kind: 'mkdir', path: PROFILE }] }),
      step('map', 'Map', {
        status: 'change',
        detail: '',
        actions: [{ kind: 'writeFile', path: `${PROFILE}\\map`, content: Buffer.from('the map'), keepsState: true }],
      }),
      step('local-cf', 'local.cf', { status: 'change', detail: '', actions: [{ kind: 'writeFile', path: localCf, content: Buffer.from('new local.cf\r\n') }] }),
      step('v310-pre', 'v310.pre', { status: 'unchanged', detail: '' }),
      step('firewall', 'Firewall', {
        status: 'change',
        detail: '',
        actions: [
          firewall('DCC in', [rule('DCC in', 'Domain')], [rule('DCC in', 'Any')]),
          firewall('DCC in', [], [rule('DCC in', 'Private')]),
          firewall('DCC out', [], [rule('DCC out', 'Any')]),
        ],
      }),
      step('permissions', 'Permissions', {
        status: 'change',
        detail: '',
        actions: [
          { kind: 'secureFolder', path: 'C:\\ProgramData\\kerio-dcc', before: 'O:BAG:SYD:(A;;FA;;;WD)', inside: true },
          { kind: 'setAcl', path: 'C:\\Kerio backups', sddl: 'O:SYG:SYD:(A;;FA;;;BU)', before: 'O:BAG:SYD:P(A;;FA;;;BA)' },
        ],
      }),
      step('watch', 'Watch', {
        status: 'change',
        detail: '',
        actions: [
          { kind: 'deleteFile', path: 'C:\\sa\\etc\\dcc\\map' },
          { kind: 'deleteFile', path: 'C:\\sa\\etc\\dcc\\gone' },
        ],
      }),
    ],
    readHashes: new Map(),
    backupTrees: [location.rulesDir],
    ...extra,
  };
}

t.test('a backup holds every file of the rules folder, byte for byte, and what the run will change', async (t) => {
  const { ctx, location, base, host } = await setup(t);
  const rules = host(location.rulesDir);
  await mkdir(path.join(rules, 'sub', 'deeper'), { recursive: true });
  await writeFile(path.join(rules, 'sub', 'deeper', 'x.cf'), 'deep\n');
  await symlink('/etc/hostname', path.join(rules, 'linked.cf'));
  t.equal(spawnSync('mkfifo', [path.join(rules, 'pipe')]).status, 0, 'a named pipe in the rules folder');
  const localCf = joinWin(location.rulesDir, 'local.cf');
  const plan = handPlan(location, {
    // The plan spells the path as Windows may (another case): it is still the file the walk found.
    readHashes: new Map([[localCf.toUpperCase(), sha256(await readFile(path.join(rules, 'local.cf')))]]),
    dccLicense: { accepted: true, how: 'answers', sha256: 'a'.repeat(64) },
  });

  const backup = await createBackup(ctx, plan, location);
  t.equal(backup.winDir, `${BACKUPS}\\${ID}`, 'named by the time it was made');
  t.equal(backup.dir, path.join(base, ID));
  t.same(await readdir(base), [ID], 'no .partial folder is left');
  const m = await readBackupJson(backup.dir);
  t.match(m, {
    toolVersion: TOOL_VERSION,
    id: ID,
    command: 'install',
    createdAt: NOW.toISOString(),
    finishedAt: null,
    status: 'applying',
    target: { root: ctx.target.root, rulesDir: location.rulesDir, installDir: location.installDir, service: ctx.answers.kerio.service },
    answersFile: null,
    dccLicense: { accepted: true, how: 'answers', sha256: 'a'.repeat(64) },
  });
  t.same(m.changes, ['profile', 'map', 'local-cf', 'firewall', 'permissions', 'watch'], 'the steps that change, without the backup itself');

  const inRules: string[] = [];
  for (const name of await readdir(rules, { recursive: true, withFileTypes: true }))
    if (name.isFile()) inRules.push(path.relative(rules, path.join(name.parentPath, name.name)).split(path.sep).join('\\'));
  t.ok(inRules.length >= 5, 'the demo rules folder has files, and one more folder down');
  const byPath = new Map<string, any>(m.files.map((f: any) => [f.path, f]));
  t.same(
    [...byPath.keys()].sort(),
    [...inRules.map((r) => `${location.rulesDir}\\${r}`), 'C:\\sa\\etc\\dcc\\map'].sort(),
    'every regular file of the rules folder (deeper ones too), and the file the run deletes elsewhere',
  );
  for (const f of m.files) {
    const original = await readFile(host(f.path));
    const copy = await readFile(path.join(backup.dir, ...f.backup.split('/')));
    if (!copy.equals(original) || f.size !== original.length || f.sha256 !== sha256(original)) t.fail(`${f.path}: copy, size or hash wrong`);
  }
  t.match(byPath.get(`${location.rulesDir}\\sub\\deeper\\x.cf`), { backup: /^files\/C\/Program Files \(x86\)\/Kerio\/.*\/rules\/sub\/deeper\/x\.cf$/ });
  t.equal(byPath.get(localCf).after, sha256('new local.cf\r\n'), 'local.cf: the bytes the run will leave');
  t.equal(byPath.get('C:\\sa\\etc\\dcc\\map').after, null, 'a file the run deletes: null');
  t.notOk('after' in byPath.get(`${location.rulesDir}\\v310.pre`), 'a file the run does not touch has no after');
  t.notOk(
    [...byPath.values()].some((f) => 'keepsState' in f),
    'no file backed up is one the run keeps state in',
  );

  t.same(m.created, [
    { type: 'dir', path: PROFILE },
    { type: 'file', path: `${PROFILE}\\map`, sha256: sha256('the map'), keepsState: true },
  ]);
  t.same(
    m.firewall,
    [
      { name: 'DCC in', before: [rule('DCC in', 'Domain')], after: [rule('DCC in', 'Any')] },
      { name: 'DCC out', before: [], after: [rule('DCC out', 'Any')] },
    ],
    'each rule once, as it was before its first command',
  );
  t.same(m.skipped.sort(), [`${location.rulesDir}\\linked.cf (a link or junction: not followed)`, `${location.rulesDir}\\pipe (not a regular file)`]);
  t.same(m.acls, [
    { path: 'C:\\ProgramData\\kerio-dcc', before: 'O:BAG:SYD:(A;;FA;;;WD)', after: SAFE_FOLDER_SDDL },
    { path: 'C:\\Kerio backups', before: 'O:BAG:SYD:P(A;;FA;;;BA)', after: 'O:SYG:SYD:(A;;FA;;;BU)' },
  ]);

  await markBackup(backup, 'complete', '2026-12-03T08:00:05.000Z');
  t.match(await readManifestHead(backup.dir), { status: 'complete', finishedAt: '2026-12-03T08:00:05.000Z' }, 'marked complete on disk');
  t.match(backup.manifest, { status: 'complete', finishedAt: '2026-12-03T08:00:05.000Z' }, 'and in the run');
  t.equal(backup.manifest.files.count, m.files.length, 'the file list is kept');
});

t.test('a file the run replaces and keeps state in is recorded so; a backup without a licence says nothing of one', async (t) => {
  const { ctx, location } = await setup(t);
  const plan = handPlan(location, { readHashes: new Map() });
  const map = plan.steps.find((s) => s.id === 'map')!;
  // The same map, now already there: it is backed up, with what the run leaves and that DCC keeps state in it.
  map.actions = [{ kind: 'writeFile', path: 'C:\\sa\\etc\\dcc\\map', content: Buffer.from('the map'), keepsState: true }];
  plan.steps.find((s) => s.id === 'watch')!.actions = [];
  const m = await readBackupJson((await createBackup(ctx, plan, location)).dir);
  t.match(
    m.files.find((f: any) => f.path === 'C:\\sa\\etc\\dcc\\map'),
    { after: sha256('the map'), keepsState: true },
  );
  t.same(m.created, [{ type: 'dir', path: PROFILE }], 'a file that was there is not created');
  t.notOk('dccLicense' in m, 'no licence decision when the run provisions no DCC client');
  t.notOk(
    m.files.some((f: any) => f.path.endsWith('local.cf') && 'keepsState' in f),
    'local.cf holds no state',
  );
});

t.test('a file that changed between planning and backing up stops the run: exit 3, nothing kept', async (t) => {
  const { ctx, location, base, host } = await setup(t);
  const localCf = joinWin(location.rulesDir, 'local.cf');
  const now = sha256(await readFile(host(localCf)));
  const cases: [string, Map<string, string | null>][] = [
    ['a file edited since it was read', new Map([[localCf, sha256('what it was')]])],
    ['a file created since it was read as missing', new Map([[localCf, null]])],
    ['a file removed since it was read', new Map([[`${location.rulesDir}\\gone.cf`, now]])],
    [
      'a file still missing passes, but another one edited stops the run',
      new Map([
        [`${PROFILE}\\map`, null],
        [joinWin(location.rulesDir, 'v310.pre'), sha256('other')],
      ]),
    ],
  ];
  for (const [what, readHashes] of cases) {
    const changed = [...readHashes].find(([p, h]) => p !== `${PROFILE}\\map` || h !== null)![0];
    await t.rejects(
      createBackup(ctx, handPlan(location, { readHashes }), location),
      {
        exitCode: 3,
        message: `${changed} changed while this run was being planned (another program or person edited it).`,
        hint: 'Nothing was changed. Run the command again.',
      },
      what,
    );
    t.same(await readdir(base), [], `${what}: no backup and no .partial folder is left`);
  }
  await createBackup(
    ctx,
    handPlan(location, {
      readHashes: new Map([
        [localCf, now],
        [`${PROFILE}\\map`, null],
      ]),
    }),
    location,
  );
  t.same(await readdir(base), [ID], 'unchanged files (and a file still missing) pass');
});

t.test('a backup folder inside the rules folder, or one that cannot be made, is refused before anything is copied', async (t) => {
  const inside = await setup(t, '[backup]\ndir = C:\\Program Files (x86)\\Kerio\\MailServer\\plugins\\spamassassin\\rules\\backups\n');
  await t.rejects(createBackup(inside.ctx, handPlan(inside.location), inside.location), {
    exitCode: 3,
    message: `backup.dir ${inside.location.rulesDir}\\backups is inside ${inside.location.rulesDir}, which Kerio upgrades replace.`,
    hint: 'Set backup.dir in the answers file to a folder outside the rules folder.',
  });
  t.notOk(await readdir(inside.host(`${inside.location.rulesDir}\\backups`)).catch(() => null), 'no folder was made there');

  // With the simulated system, the trusted folders are made first, and refused with their own message (test/state-folder-trust).
  const blocked = await setup(t, '[backup]\ndir = C:\\Kerio backups\\kerio-dcc\n', false);
  await writeFile(blocked.host('C:\\Kerio backups'), 'a file where the folder should be');
  await t.rejects(createBackup(blocked.ctx, handPlan(blocked.location), blocked.location), {
    exitCode: 3,
    message: /^Cannot create the backup folder C:\\Kerio backups\\kerio-dcc \((ENOTDIR|EEXIST)\)\.$/,
    hint: 'Set backup.dir in the answers file to a folder you can write to. Nothing was changed.',
  });
  t.equal(await readFile(blocked.host('C:\\Kerio backups'), 'utf8'), 'a file where the folder should be', 'the file is untouched');
});

t.test('a backup that fails while it is made is removed, and the message says what failed and what to do', async (t) => {
  let base = '';
  // Each try on a fresh image, so the second meets the points of the first in the same order.
  const make = async () => {
    const s = await setup(t);
    base = s.base;
    return createBackup(s.ctx, handPlan(s.location), s.location);
  };
  await t.rejects(failingAt(t, /^backup .*local\.cf$/, make), {
    exitCode: 3,
    message: new RegExp(
      `^Making the backup in ${BACKUPS.replace(/\\/g, '\\\\')}\\\\${ID} failed \\(EIO\\): injected fault at point \\d+ \\(backup .*local\\.cf\\)$`,
    ),
    hint: 'Nothing was changed. Check that the backup folder is writable and the disk is not full.',
  });
  t.same(await readdir(base), [], 'the unfinished backup is gone');
  await t.rejects(
    failingAt(t, /^backup /, make, 'ENOSPC'),
    { exitCode: 3, message: /failed \(ENOSPC\): /, hint: 'Free some disk space and run again. Nothing was changed.' },
    'a full disk is named as such',
  );
  t.same(await readdir(base), []);
});

t.test('a copy that fails is reported as the failure it is: only a copy that reads back wrong is called a mismatch', async (t) => {
  // A stand-in for the copy: a disk that fails a read, or a copy that reads back wrong, cannot be made here.
  const failing = async (error: Error) =>
    (
      await t.mockImport<typeof import('../src/store/create.js')>('../src/store/create.js', {
        '../src/fs/files.js': {
          ...files,
          copyAndHashFile: () => {
            throw error;
          },
        },
      })
    ).createBackup;
  const checkHint = 'Nothing was changed. Check that the backup folder is writable and the disk is not full.';
  const cases: [string, Error, string | RegExp, string][] = [
    [
      'a read error',
      Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' }),
      `Making the backup in ${BACKUPS}\\${ID} failed (EIO): EIO: i/o error, read`,
      checkHint,
    ],
    ['an error without a code', new Error('the disk went away'), `Making the backup in ${BACKUPS}\\${ID} failed: the disk went away`, checkHint],
    [
      'a copy that reads back wrong',
      new files.CopyMismatchError('/copy'),
      /^The backup copy of C:\\Program Files \(x86\)\\Kerio\\.*\\rules\\[^\\]+ does not match the original after copying\.$/,
      'The disk may be failing or full. Nothing was changed.',
    ],
  ];
  for (const [what, error, message, hint] of cases) {
    const { ctx, location, base } = await setup(t);
    await t.rejects((await failing(error))(ctx, handPlan(location), location), { exitCode: 3, message, hint }, what);
    t.same(await readdir(base), [], `${what}: no backup is left`);
  }
});

/** Makes a backup at `when` and marks it `status`; its id. */
async function backupAt(s: Awaited<ReturnType<typeof setup>>, when: string, status: 'complete' | 'applying' = 'complete'): Promise<string> {
  s.setClock(new Date(when));
  const b = await createBackup(s.ctx, handPlan(s.location), s.location);
  if (status !== 'applying') await markBackup(b, status, when);
  return b.manifest.id;
}

t.test('backup ids sort by time, then by their number within the same second', async (t) => {
  const ids = ['20261203T080001Z', '20261203T080000Z-10', '20261203T080000Z', '20261203T080000Z-2', '20261202T235959Z'];
  t.same([...ids].sort(compareIds), ['20261202T235959Z', '20261203T080000Z', '20261203T080000Z-2', '20261203T080000Z-10', '20261203T080001Z']);
  t.equal(compareIds('20261203T080000Z', '20261203T080000Z'), 0);
  t.ok(compareIds('20261202T235959Z', '20261203T080000Z') < 0, 'an earlier second is older');
  t.ok(compareIds('20261203T080000Z-5', '20261203T080001Z') < 0, 'whatever the number of the runs in it');
  t.ok(compareIds('20261203T080001Z', '20261203T080000Z-5') > 0);
  t.ok(compareIds('20261203T080000Z-2', '20261203T080000Z') > 0, 'a second backup in a second is newer than the first');
});

t.test('retention keeps the newest backup.keep backups, the one just made and every unfinished one', async (t) => {
  const s = await setup(t, '[backup]\nkeep = 2\n');
  const oldest = await backupAt(s, '2026-12-01T08:00:00.000Z');
  const unfinished = await backupAt(s, '2026-12-01T09:00:00.000Z', 'applying');
  const unreadable = await backupAt(s, '2026-12-01T10:00:00.000Z');
  await writeFile(path.join(s.base, unreadable, 'manifest.json'), '{ torn');
  const justMade = await backupAt(s, '2026-12-02T08:00:00.000Z');
  const older = await backupAt(s, '2026-12-03T08:00:00.000Z');
  const second = await backupAt(s, '2026-12-03T08:00:00.000Z');
  const tenth: string[] = [];
  for (let i = 3; i <= 10; i++) tenth.push(await backupAt(s, '2026-12-03T08:00:00.000Z'));
  t.equal(second, `${ID}-2`);
  t.equal(tenth.at(-1), `${ID}-10`);
  t.same((await listBackupDirs(s.ctx)).map((d) => path.basename(d)).slice(0, 3), [`${ID}-10`, `${ID}-9`, `${ID}-8`], 'newest first, -10 after -9');

  const removed = await pruneBackups(s.ctx, justMade);
  t.same(removed, [...tenth.slice(0, -2).reverse(), second, older, oldest], 'newest first, each removed one named');
  t.same(
    (await readdir(s.base)).sort(),
    [unfinished, unreadable, justMade, `${ID}-9`, `${ID}-10`].sort(),
    'kept: the two newest, the one just made, the unfinished and the unreadable',
  );
  t.same(s.warnings, []);
  t.same(await pruneBackups(s.ctx, justMade), [], 'a second pass removes nothing');
});

t.test('keep = 0 keeps every backup', async (t) => {
  const s = await setup(t, '[backup]\nkeep = 0\n');
  const ids = [await backupAt(s, '2026-12-01T08:00:00.000Z'), await backupAt(s, '2026-12-02T08:00:00.000Z')];
  t.same(await pruneBackups(s.ctx, ids[1]!), []);
  t.same((await readdir(s.base)).sort(), ids);
});

t.test('a backup folder that others may write in is not pruned: retention waits for a safe one', async (t) => {
  const s = await setup(t, '[backup]\nkeep = 1\n');
  const ids = [await backupAt(s, '2026-12-01T08:00:00.000Z'), await backupAt(s, '2026-12-02T08:00:00.000Z')];
  const state = await simState(s.img);
  await saveSimState(s.host(SIMULATED_STATE_PATH), { ...state, acls: { ...state.acls, 'c:\\programdata\\kerio-dcc': { sddl: USERS_MAY_WRITE_SDDL } } });
  forgetVerdict(s.ctx);
  t.same(await pruneBackups(s.ctx, ids[1]!), []);
  t.same((await readdir(s.base)).sort(), ids, 'both kept');
  t.same(s.warnings, []);
});

t.test('an old backup that cannot be removed is left, with a warning, and the others still go', async (t) => {
  const s = await setup(t, '[backup]\nkeep = 1\n');
  const ids = [await backupAt(s, '2026-12-01T08:00:00.000Z'), await backupAt(s, '2026-12-02T08:00:00.000Z'), await backupAt(s, '2026-12-03T08:00:00.000Z')];
  const snapshot = path.join(await tempDir(t), 'snapshot');
  await cp(s.base, snapshot, { recursive: true });
  const prune = async () => {
    await rm(s.base, { recursive: true, force: true });
    await cp(snapshot, s.base, { recursive: true });
    s.warnings.length = 0;
    return pruneBackups(s.ctx, ids[2]!);
  };
  const removed = await failingAt(t, new RegExp(`^prune .*${ids[1]}$`), prune);
  t.same(removed, [ids[0]], 'the next one is still removed');
  t.same((await readdir(s.base)).sort(), [ids[1], ids[2]]);
  t.same(s.warnings, [`could not remove the old backup ${ids[1]} (EIO); it is left in place`]);
});

t.test('an interrupted run is only ever the newest readable backup; one that left no journal is one too', async (t) => {
  const s = await setup(t);
  t.equal(await findUnfinishedRun(s.ctx), null, 'no backups: none');
  // A backup still 'applying' whose run was killed before its first step wrote the journal.
  const older = await backupAt(s, '2026-12-01T08:00:00.000Z', 'applying');
  t.match(await findUnfinishedRun(s.ctx), { dir: path.join(s.base, older), winDir: `${BACKUPS}\\${older}` }, 'an applying backup without a journal');
  const unreadable = await backupAt(s, '2026-12-02T08:00:00.000Z');
  await writeFile(path.join(s.base, unreadable, 'manifest.json'), '{ torn');
  t.match(await findUnfinishedRun(s.ctx), { dir: path.join(s.base, older) }, 'a newer backup that cannot be read is passed over');
  await backupAt(s, '2026-12-03T08:00:00.000Z');
  t.equal(await findUnfinishedRun(s.ctx), null, 'behind a complete newer backup, the applying one is not an interrupted run');
});
