import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import t, { type Test } from 'tap';
import { demoMapBytes, type Image } from '../src/demo/image.js';
import type { SimFirewallRule, SimState } from '../src/system/simulated.js';
import { basenameWin, joinWin } from '../src/target/target.js';
import { hashTree, inImage, makeImage, tempDir, type CliResult, kerioOnImage, succeeded, kerioOk, rulesHost, simState } from './helpers/cli.js';
import { fixtureRulesDir, missingFixtureMessage, SA_VERSIONS } from './helpers/fixtures.js';

// Each test works on its own image, so two can run at once.
t.jobs = 2;

// The demo image is 32-bit Kerio on 64-bit Windows: WOW64 sends its profile to SysWOW64.
const PROFILE = 'C:\\Windows\\SysWOW64\\config\\systemprofile\\.spamassassin';
const MAP_COPY = joinWin(PROFILE, 'map');
const BACKUPS = 'C:\\ProgramData\\kerio-dcc\\backups';
const kerio = (img: Image, ...args: string[]): Promise<CliResult> => kerioOnImage(img, args);

const run = kerioOk;

const wholeFile = t;
let pristine: Promise<{ img: Image; original: Record<string, string> }> | null = null;

/** A copy of one image that install ran on once for this file: most tests start from there. */
async function installedCopy(t: Test): Promise<{ img: Image; original: Record<string, string> }> {
  pristine ??= (async () => {
    const img = await makeImage(wholeFile, {}, 'kerio-dcc-installed-');
    const original = await hashTree(rulesHost(img));
    const install = await kerio(img, 'install', '--yes');
    if (install.code !== 0) throw new Error(`install failed (${install.code}): ${install.stdout}${install.stderr}`);
    return { img, original };
  })();
  const source = await pristine;
  const root = await tempDir(t);
  await cp(source.img.root, root, { recursive: true });
  return { ...source, img: { ...source.img, root } };
}

const byNameThenDirection = (a: SimFirewallRule, b: SimFirewallRule) => `${a.name}|${a.direction}`.localeCompare(`${b.name}|${b.direction}`);

function dccRules(state: SimState): SimFirewallRule[] {
  return state.firewall.filter((r) => /DCC/i.test(r.name)).sort(byNameThenDirection);
}

function mutating(result: CliResult): string[] {
  return (result.json?.commands ?? [])
    .filter((c: { mutates: boolean }) => c.mutates)
    .map((c: { program: string; args: string[] }) => `${basenameWin(c.program)} ${c.args.join(' ')}`);
}

t.test("uninstall after install gives back Kerio's local.cf and v310.pre byte for byte, and removes the map copy and both firewall rules", async (t) => {
  const { img, original } = await installedCopy(t);
  const rules = rulesHost(img);
  const installed = await hashTree(rules);
  t.not(installed['local.cf'], original['local.cf'], 'install changed local.cf (else this test proves nothing)');
  t.not(installed['v310.pre'], original['v310.pre'], 'install changed v310.pre');

  const uninstall = await run(t, img, 'uninstall');
  t.equal(uninstall.json.schema, 1);
  t.equal(uninstall.json.command, 'uninstall');
  t.equal(uninstall.json.changed, true);
  const after = await hashTree(rules);
  t.equal(after['local.cf'], original['local.cf'], 'local.cf: the block is gone and "score DCC_CHECK 0" is back, byte for byte');
  t.equal(after['v310.pre'], original['v310.pre'], 'v310.pre: the DCC loadplugin line is commented out again, byte for byte');
  t.same(after, original, 'no other file of the rules folder differs');
  t.notOk(existsSync(inImage(img.root, MAP_COPY)), 'the map copy is gone');
  t.same(dccRules(await simState(img)), [], 'both firewall rules are gone');
  const changes = mutating(uninstall);
  t.ok(
    changes.includes('sc.exe stop KerioMailServer') && changes.indexOf('sc.exe start KerioMailServer') > changes.indexOf('sc.exe stop KerioMailServer'),
    `Kerio was restarted: ${changes.join('; ')}`,
  );
});

t.test('install, uninstall, install leaves the same files and firewall rules as a single install', async (t) => {
  const [twice, { img: once }] = await Promise.all([makeImage(t), installedCopy(t)]);
  await run(t, twice, 'install');
  await run(t, twice, 'uninstall');
  await run(t, twice, 'install');
  t.same(await hashTree(rulesHost(twice)), await hashTree(rulesHost(once)), 'the rules folders are byte-identical');
  t.same(await readFile(inImage(twice.root, MAP_COPY)), await readFile(inImage(once.root, MAP_COPY)), 'the map copies are identical');
  t.same(dccRules(await simState(twice)), dccRules(await simState(once)), 'the firewall rules are identical');
});

t.test('uninstall is backed up, and rolling it back brings the installed state back', async (t) => {
  const { img } = await installedCopy(t);
  const installedRules = await hashTree(rulesHost(img));
  const installedFirewall = dccRules(await simState(img));
  const uninstall = await run(t, img, 'uninstall');
  t.type(uninstall.json.backup, 'string', 'uninstall names its backup');

  const rollback = await run(t, img, 'rollback');
  t.equal(rollback.json.data.rolledBack.command, 'uninstall', 'the newest backup, the uninstall, is the one rolled back');
  t.same(await hashTree(rulesHost(img)), installedRules, 'the rules folder is as install left it');
  t.same(await readFile(inImage(img.root, MAP_COPY)), demoMapBytes(), 'the map copy is back');
  t.same(dccRules(await simState(img)), installedFirewall, 'both firewall rules are back');
});

t.test('uninstall on a server where DCC was never installed changes nothing and makes no backup', async (t) => {
  const img = await makeImage(t);
  const image = await hashTree(img.root);
  const uninstall = await run(t, img, 'uninstall');
  t.equal(uninstall.json.changed, false);
  t.equal(uninstall.json.backup, null);
  // The one changing command: the state folder, made for the run's lock, is created
  // restricted to administrators (and taken away again at the end).
  const [secure, ...others] = mutating(uninstall);
  t.match(
    Buffer.from(secure?.split(' ').at(-1) ?? '', 'base64').toString('utf16le'),
    /^# kerio-dcc: new-folder\n\$path = 'C:\\ProgramData\\kerio-dcc'\n/,
    'the new state folder, created with its ACL at once',
  );
  t.same(others, [], 'and nothing else changing ran');
  // The run lock may leave an empty backups folder; what matters is that no file appeared or changed.
  const files = (tree: Record<string, string>) => Object.fromEntries(Object.entries(tree).filter(([, hash]) => hash !== 'dir'));
  t.same(files(await hashTree(img.root)), files(image), 'no file of the image appeared or changed');
  t.same(await readdir(inImage(img.root, BACKUPS)).catch(() => []), [], 'no backup was made');
});

t.test("uninstall leaves a map file in the profile folder that is not a copy of DCC's map", async (t) => {
  const { img } = await installedCopy(t);
  const own = Buffer.from("an administrator's own map\0", 'latin1');
  await writeFile(inImage(img.root, MAP_COPY), own);
  const uninstall = await run(t, img, 'uninstall');
  t.same(await readFile(inImage(img.root, MAP_COPY)), own, 'the file is kept');
  const map = uninstall.json.steps.find((s: { id: string }) => s.id === 'map');
  t.match(map?.notes.join('\n'), /left in place/, 'and the plan says why');
});

t.test('a dry-run uninstall changes nothing and runs no changing command', async (t) => {
  const { img } = await installedCopy(t);
  const image = await hashTree(img.root);
  const dry = await kerio(img, 'uninstall', '--dry-run');
  succeeded(t, dry, 'uninstall --dry-run');
  t.equal(dry.json.schema, 1);
  t.equal(dry.json.dryRun, true);
  t.ok(
    dry.json.steps.some((s: { status: string }) => s.status === 'would-change'),
    'the plan shows what would change',
  );
  t.same(mutating(dry), []);
  t.same(await hashTree(img.root), image);
});

// The oldest and newest releases bound what the patchers meet; the middle one adds little for undoing.
for (const version of [SA_VERSIONS[0], SA_VERSIONS[SA_VERSIONS.length - 1]] as const) {
  const rulesFrom = fixtureRulesDir(version);
  t.test(
    `uninstall gives back SpamAssassin ${version}'s rule files with Kerio's zero score byte for byte`,
    { skip: rulesFrom ? false : missingFixtureMessage(version) },
    async (t) => {
      const img = await makeImage(t, { rulesFrom: rulesFrom!, addKerioZeroScore: true, eol: 'lf' });
      const original = await hashTree(rulesHost(img));
      await run(t, img, 'install');
      t.notSame(await hashTree(rulesHost(img)), original, 'install changed the rules folder (else this test proves nothing)');
      await run(t, img, 'uninstall');
      t.same(await hashTree(rulesHost(img)), original);
    },
  );
}

t.test('uninstall finds the profile folder install used even when it holds other files, and leaves them', async (t) => {
  const img = await makeImage(t);
  await mkdir(inImage(img.root, PROFILE), { recursive: true });
  const prefs = inImage(img.root, joinWin(PROFILE, 'user_prefs'));
  await writeFile(prefs, 'required_score 6\r\n');
  await run(t, img, 'install');
  await run(t, img, 'uninstall');
  t.notOk(existsSync(inImage(img.root, MAP_COPY)), 'the map copy is gone');
  t.equal(await readFile(prefs, 'latin1'), 'required_score 6\r\n', "the administrator's file is untouched");
});

t.test('uninstall on a server whose rules folder has no local.cf changes nothing there and creates none', async (t) => {
  const img = await makeImage(t);
  await rm(inImage(img.root, joinWin(img.rulesDir, 'local.cf')));
  const before = await hashTree(rulesHost(img));
  const result = await kerio(img, 'uninstall', '--yes');
  succeeded(t, result, 'uninstall');
  t.equal(result.json.steps.find((s: { id: string }) => s.id === 'local-cf')?.status, 'unchanged');
  t.same(await hashTree(rulesHost(img)), before, 'the rules folder is as it was: no local.cf was created');
});
