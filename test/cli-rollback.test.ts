import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, cp, readFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { demoMapBytes, type Image } from '../src/demo/image.js';
import { loadSimState, plainServerState, saveSimState, SIMULATED_STATE_PATH, type SimFirewallRule, type SimState } from '../src/system/simulated.js';
import { Target, basenameWin, joinWin } from '../src/target/target.js';
import { hashTree, inImage, makeImage, tempDir, type CliResult, kerioOnImage, succeeded, rulesHost, simState } from './helpers/cli.js';
import { readBackupJson } from './helpers/backupStore.js';
import { withStateFolderSecured } from '../src/system/simulated/acl.js';

// Each test works on its own image, so two can run at once.
t.jobs = 2;

// The demo image is 32-bit Kerio on 64-bit Windows: WOW64 sends its profile to SysWOW64.
const PROFILE = 'C:\\Windows\\SysWOW64\\config\\systemprofile\\.spamassassin';
const MAP_COPY = joinWin(PROFILE, 'map');
const BACKUPS = 'C:\\ProgramData\\kerio-dcc\\backups';
const RULE_OUT = 'Kerio DCC (UDP 6277 out)';
const RULE_IN = 'Kerio DCC (UDP 6277 in)';

const kerio = (img: Image, ...args: string[]): Promise<CliResult> => kerioOnImage(img, args);

async function writeSimState(img: Image, edit: (state: SimState) => void): Promise<void> {
  const state = (await loadSimState(inImage(img.root, SIMULATED_STATE_PATH))) ?? (await plainServerState(new Target({ root: img.root }), 'KerioMailServer'));
  edit(state);
  await saveSimState(inImage(img.root, SIMULATED_STATE_PATH), withStateFolderSecured(state));
}

function dccRules(state: SimState): SimFirewallRule[] {
  return state.firewall.filter((r) => /DCC/i.test(r.name));
}

/** The backup id a changing run reports, e.g. 20250101T120000Z. */
function backupId(result: CliResult): string {
  if (typeof result.json?.backup !== 'string') throw new Error(`the run reported no backup: ${result.stdout}${result.stderr}`);
  return basenameWin(result.json.backup);
}

function mutating(result: CliResult): string[] {
  return (result.json?.commands ?? [])
    .filter((c: { mutates: boolean }) => c.mutates)
    .map((c: { program: string; args: string[] }) => `${basenameWin(c.program)} ${c.args.join(' ')}`);
}

async function installed(t: Test, img?: Image): Promise<{ img: Image; install: CliResult }> {
  const image = img ?? (await makeImage(t));
  const install = await kerio(image, 'install', '--yes');
  if (install.code !== 0) throw new Error(`install failed (${install.code}): ${install.stdout}${install.stderr}`);
  return { img: image, install };
}

const wholeFile = t;
let pristine: Promise<{ img: Image; original: Record<string, string>; install: CliResult }> | null = null;

/** A copy of one image that install ran on once for this file: most tests start from there. */
async function installedCopy(t: Test): Promise<{ img: Image; original: Record<string, string>; install: CliResult }> {
  pristine ??= (async () => {
    const img = await makeImage(wholeFile, {}, 'kerio-dcc-installed-');
    const original = await hashTree(rulesHost(img));
    return { ...(await installed(wholeFile, img)), original };
  })();
  const source = await pristine;
  const root = await tempDir(t);
  await cp(source.img.root, root, { recursive: true });
  return { ...source, img: { ...source.img, root } };
}

function sha(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const byNameThenDirection = (a: SimFirewallRule, b: SimFirewallRule) => `${a.name}|${a.direction}`.localeCompare(`${b.name}|${b.direction}`);

t.test('install then rollback gives back every file of the rules folder byte for byte, removes what install made, and restarts Kerio', async (t) => {
  const { img, original, install } = await installedCopy(t);
  t.notSame(await hashTree(rulesHost(img)), original, 'install changed the rules folder (else this test proves nothing)');
  t.ok(existsSync(inImage(img.root, MAP_COPY)), 'install copied the map');
  t.equal(dccRules(await simState(img)).length, 2, 'install added the two firewall rules');

  const rollback = await kerio(img, 'rollback', '--yes');
  succeeded(t, rollback, 'rollback');
  t.equal(rollback.json.schema, 1);
  t.equal(rollback.json.command, 'rollback');
  t.equal(rollback.json.changed, true);
  t.equal(rollback.json.data.rolledBack.id, backupId(install), 'the newest backup (the install) is the one rolled back');

  t.same(await hashTree(rulesHost(img)), original, 'every file of the rules folder is as before install');
  t.notOk(existsSync(inImage(img.root, MAP_COPY)), 'the map copy is gone');
  t.notOk(existsSync(inImage(img.root, PROFILE)), 'the .spamassassin folder install created is gone');
  t.ok(existsSync(inImage(img.root, 'C:\\Windows\\SysWOW64\\config\\systemprofile')), 'the profile folder that was there before is kept');
  const state = await simState(img);
  t.same(dccRules(state), [], 'no DCC firewall rule is left');

  const changes = mutating(rollback);
  const stop = changes.indexOf('sc.exe stop KerioMailServer');
  const start = changes.indexOf('sc.exe start KerioMailServer');
  t.ok(stop >= 0 && start > stop, `the service was stopped, then started: ${changes.join('; ')}`);
  t.equal(state.services['KerioMailServer']?.state, 4, 'Kerio is running again');
});

t.test('rollback puts back DCC firewall rules that existed before install exactly as they were, and leaves other rules alone', async (t) => {
  const img = await makeImage(t);
  const rule = (name: string, direction: string, localPort: string, remotePort: string, profiles = 'Domain,Private,Public'): SimFirewallRule => ({
    name,
    enabled: 'Yes',
    direction,
    profiles,
    grouping: '',
    localIp: 'Any',
    remoteIp: 'Any',
    protocol: 'UDP',
    localPort,
    remotePort,
    edgeTraversal: 'No',
    action: 'Allow',
  });
  // An earlier hand-made attempt: wrong remote port outbound, one profile and swapped ports inbound.
  const before = [rule(RULE_OUT, 'Out', '1024-65535', '6278'), rule(RULE_IN, 'In', '6277', '1024-65535', 'Domain'), rule('Backup agent', 'In', '9000', 'Any')];
  await writeSimState(img, (s) => {
    s.firewall = before;
  });

  await installed(t, img);
  const fixed = dccRules(await simState(img));
  t.equal(fixed.length, 2, 'install left one rule per name');
  t.ok(
    fixed.every((r) => r.remotePort === '6277' && r.localPort === '1024-65535'),
    'install corrected the ports (else this test proves nothing)',
  );

  const rollback = await kerio(img, 'rollback', '--yes');
  succeeded(t, rollback, 'rollback');
  t.same([...(await simState(img)).firewall].sort(byNameThenDirection), [...before].sort(byNameThenDirection), 'the firewall is exactly as before install');
});

t.test('a second rollback changes nothing, whether the id is given or not', async (t) => {
  const { img, install } = await installedCopy(t);
  const first = await kerio(img, 'rollback', '--yes');
  succeeded(t, first, 'the first rollback');
  const image = await hashTree(img.root);

  for (const args of [
    ['rollback', '--yes'],
    ['rollback', backupId(install), '--yes'],
  ]) {
    const again = await kerio(img, ...args);
    succeeded(t, again, args.join(' '));
    t.equal(again.json.changed, false, `${args.join(' ')} reports no change`);
    t.equal(again.json.backup, null, `${args.join(' ')} makes no backup`);
    t.same(mutating(again), [], `${args.join(' ')} runs no changing command`);
    t.same(await hashTree(img.root), image, `${args.join(' ')} leaves every file of the image as it was`);
  }
});

t.test('rolling back a rollback, named by its backup id, brings the installed state back', async (t) => {
  const { img } = await installedCopy(t);
  const installedRules = await hashTree(rulesHost(img));
  const installedFirewall = dccRules(await simState(img)).sort(byNameThenDirection);
  const rollback = await kerio(img, 'rollback', '--yes');
  succeeded(t, rollback, 'rollback');

  const redo = await kerio(img, 'rollback', backupId(rollback), '--yes');
  succeeded(t, redo, 'the rollback of the rollback');
  t.same(await hashTree(rulesHost(img)), installedRules, 'the rules folder is as install left it');
  const map = await readFile(inImage(img.root, MAP_COPY)).catch(() => null);
  t.ok(map?.equals(demoMapBytes()), 'the map copy is back, byte for byte');
  t.same(dccRules(await simState(img)).sort(byNameThenDirection), installedFirewall, 'the two firewall rules are back');
});

t.test('a local.cf edited by hand after install is named by rollback and kept as it is without --force', async (t) => {
  const { img } = await installedCopy(t);
  await appendFile(path.join(rulesHost(img), 'local.cf'), 'score URIBL_BLACK 3.0\r\n');
  const image = await hashTree(img.root);

  const rollback = await kerio(img, 'rollback', '--yes');
  t.equal(rollback.code, 3);
  t.equal(rollback.json.schema, 1, 'a refusal is still reported as JSON');
  t.equal(rollback.json.ok, false);
  t.match(rollback.json.error.message, /rules\\local\.cf was changed since the backup was made/);
  t.match(rollback.json.error.hint, /--force/);
  t.same(await hashTree(img.root), image, 'nothing in the image changed, and no backup was made');
});

t.test('with --force a hand-edited local.cf is restored, and the hand-edited version is kept in the new backup', async (t) => {
  const { img, original } = await installedCopy(t);
  const localCf = path.join(rulesHost(img), 'local.cf');
  await appendFile(localCf, 'score URIBL_BLACK 3.0\r\n');
  const edited = await readFile(localCf);

  const rollback = await kerio(img, 'rollback', '--force', '--yes');
  succeeded(t, rollback, 'rollback');
  t.same(await hashTree(rulesHost(img)), original, 'the rules folder is as before install');
  t.match(rollback.json.warnings.join('\n'), /local\.cf was changed since the backup was made: restored anyway/, 'the overwrite is reported');

  const backupDir = inImage(img.root, joinWin(BACKUPS, backupId(rollback)));
  const copies = await hashTree(path.join(backupDir, 'files'));
  t.ok(Object.values(copies).includes(sha(edited)), 'the new backup holds the hand-edited local.cf byte for byte');
  const manifest = await readBackupJson(backupDir);
  const entry = manifest.files.find((f: { path: string }) => f.path.toLowerCase().endsWith('\\local.cf'));
  t.equal(entry?.sha256, sha(edited), 'its manifest records the hand-edited version for local.cf');
});

t.test('a dry-run rollback changes nothing and runs no changing command', async (t) => {
  const { img } = await installedCopy(t);
  const image = await hashTree(img.root);
  const dry = await kerio(img, 'rollback', '--dry-run');
  succeeded(t, dry, 'the dry run');
  t.equal(dry.json.dryRun, true);
  t.equal(dry.json.changed, false);
  const step = (id: string) => dry.json.steps.find((s: { id: string }) => s.id === id);
  t.equal(step('restore')?.status, 'would-change');
  t.match(step('restore')?.diffs.join('\n'), /^\+score DCC_CHECK 0\r?$/m, 'the plan shows local.cf getting its zero score back');
  t.match(step('remove')?.detail, /\.spamassassin\\map/, 'and names the map copy it would remove');
  t.match(step('firewall')?.detail, /delete "Kerio DCC \(UDP 6277 out\)"/, 'and the firewall rules it would delete');
  t.ok(dry.json.commands.length > 0, 'the firewall was read');
  t.same(mutating(dry), [], 'no changing command was run');
  t.same(await hashTree(img.root), image, 'every file of the image is as it was');
});

t.test('rollback of a backup id that does not exist is refused in JSON with exit 3', async (t) => {
  const { img } = await installedCopy(t);
  const image = await hashTree(img.root);
  const rollback = await kerio(img, 'rollback', '20000101T000000Z', '--yes');
  t.equal(rollback.code, 3);
  t.equal(rollback.json.schema, 1);
  t.equal(rollback.json.ok, false);
  t.match(rollback.json.error.message, /20000101T000000Z/);
  t.same(await hashTree(img.root), image);
});

t.test('rollback from a prompt that is not elevated changes nothing', async (t) => {
  const { img } = await installedCopy(t);
  await writeSimState(img, (s) => {
    s.elevated = false;
  });
  const image = await hashTree(img.root);
  const rollback = await kerio(img, 'rollback', '--yes');
  t.equal(rollback.code, 3);
  t.match(rollback.json.error.message, /administrator/);
  t.same(mutating(rollback), []);
  t.same(await hashTree(img.root), image);
});
