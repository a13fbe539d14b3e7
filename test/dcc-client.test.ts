// [dcc] client = bundled: kerio-dcc installs the DCC client it ships (dccproc.exe, cdcc.exe built from
// DCC's unchanged source), creates the DCC home and makes its map with the real cdcc from [dcc] servers.
// On an image with --simulate, cdcc.exe is DCC's real Linux cdcc (src/system/simulated/cdcc.ts), so the
// map is a real DCC map. Never the public DCC servers: the map lists the private dccd on 127.0.0.1.
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import t, { type Test } from 'tap';
import { loadAnswers } from '../src/answers/load.js';
import { hashTree, inImage, kerioOnImage, makeImage, simState, succeeded, tempDir, type CliResult } from './helpers/cli.js';
import { SAFE_FOLDER_SDDL } from '../src/windows/acl.js';
import { clientHome, mapServers, SERVER_ID, startDccServer } from './helpers/dccServer.js';
import { missingFixtureMessage, fixtureRulesDir, systemSpamAssassin, SPAMASSASSIN_MISSING } from './helpers/fixtures.js';
import { DCC_TARBALL, linuxDcc, linuxDccMissing, windowsDcc, windowsDccMissing } from './helpers/realDcc.js';
import { buildImage, DEMO_IMAGE } from '../src/demo/image.js';

const skip = linuxDccMissing() || windowsDccMissing();
const linux = skip ? null : await linuxDcc();
const bundle = skip ? null : await windowsDcc();

/** The environment a run needs: the client package (as beside kerio-dcc.exe), and the real cdcc the simulation runs. */
const env = (): NodeJS.ProcessEnv => ({ KERIO_DCC_CLIENT_DIR: bundle!.dir, KERIO_DCC_SIMULATED_CDCC: linux!.cdcc });

async function answers(t: Test, lines: string[]): Promise<string> {
  const file = path.join(await tempDir(t, 'kerio-dcc-answers-'), 'dcc.ini');
  await writeFile(file, ['[dcc]', ...lines, ''].join('\n'));
  return file;
}

/** The demo image without any DCC: no C:\sa, as on a new server. */
async function bareImage(t: Test, options = {}) {
  const image = await makeImage(t, options);
  await rm(path.join(image.root, 'sa'), { recursive: true, force: true });
  return image;
}

/**
 * `cdcc info` by DCC's Linux cdcc on a map in the image. DCC on Unix uses only a private map
 * (clntlib/lock_open.c, HAVE_PRIVATE_FILES; its Windows build has no such check): mode 0600 first.
 */
async function mapInfo(home: string) {
  await chmod(path.join(home, 'map'), 0o600);
  return mapServers(linux!, home);
}

const bundledLines = (port: number) => ['client = bundled', 'accept_license = yes', `servers[] = 127.0.0.1,${port} RTT+0 ms anon`];

function exits(t: Test, run: CliResult, code: number, what: string): void {
  t.equal(run.code, code, `${what}: exit ${code}`, { stderr: run.stderr, error: run.json?.error ?? null });
}

t.test("the default [dcc] servers are the public servers of DCC's own sample map.txt, asked anonymously (read, never contacted)", async (t) => {
  if (!(await readFile(DCC_TARBALL).catch(() => null))) return t.skip(`no DCC tarball at ${DCC_TARBALL}`);
  const sample = execFileSync('tar', ['-xzOf', DCC_TARBALL, 'dcc-1.3.158/homedir/map.txt.in'], { encoding: 'latin1' });
  const section = sample.slice(sample.indexOf('# public DCC servers'), sample.indexOf('# local DCC server'));
  const upstream = section
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => l.trim().split(/\s+/).join(' '));
  t.equal(upstream.length, 5, 'the sample lists five public servers');
  const defaults = (await loadAnswers(null)).answers.dcc;
  t.same(defaults.servers, upstream, 'the default list is exactly those lines, in order');
  t.ok(
    defaults.servers.every((s) => / anon$/.test(s)),
    'each asked as the anonymous client',
  );
  t.equal(defaults.client, 'existing', "and the default client is the existing one: today's behaviour");
});

t.test('bad [dcc] client, servers or map keys exit 2 naming the key, and change nothing', async (t) => {
  const image = await makeImage(t);
  const before = await hashTree(image.root);
  const cases: [string[], RegExp][] = [
    [['client = mine'], /dcc\.client \(line 2\): "mine" is not existing or bundled/],
    [['client = bundled', 'servers[] = dcc1.example.net && calc'], /dcc\.servers \(line 3\): "dcc1\.example\.net && calc" is not a DCC server entry/],
    [['client = bundled', 'servers[] = 127.0.0.1,6277 RTT+0 ms "quoted"'], /dcc\.servers \(line 3\): .* is not a DCC server entry/],
    [['client = bundled', 'map = C:\\elsewhere\\map'], /dcc\.map \(line 3\): client = bundled makes the map in the DCC home/],
    [['accept_license = maybe'], /dcc\.accept_license \(line 2\): "maybe" is not true or false/],
  ];
  for (const [lines, message] of cases) {
    const run = await kerioOnImage(image, ['install', '--yes', '--answers', await answers(t, lines)]);
    exits(t, run, 2, lines.join(' / '));
    t.match(run.json?.error?.message ?? run.stderr, message, `names the key: ${message}`);
  }
  t.same(await hashTree(image.root), before, 'the image is unchanged');
});

t.test('unattended, client = bundled without accept_license = yes stops with exit 2 naming the key, and changes nothing', { skip }, async (t) => {
  const image = await bareImage(t);
  const before = await hashTree(image.root);
  const run = await kerioOnImage(
    image,
    ['install', '--yes', '--answers', await answers(t, ['client = bundled', 'servers[] = 127.0.0.1,6277 RTT+0 ms anon'])],
    env(),
  );
  exits(t, run, 2, 'without the licence');
  t.match(run.json?.error?.message ?? run.stderr, /\[dcc\] accept_license is not yes/, 'names [dcc] accept_license');
  t.match(run.json?.error?.hint ?? run.stderr, /accept_license = yes/, 'and says how to accept it');
  t.same(await hashTree(image.root), before, 'the image is unchanged');
});

t.test('client = bundled on a server with no DCC: programs, home and a map made by the real cdcc; idempotent; rollback byte-identical', { skip }, async (t) => {
  const server = await startDccServer(t, linux!);
  const image = await bareImage(t);
  const before = await hashTree(image.root);
  const file = await answers(t, bundledLines(server.port));

  const install = await kerioOnImage(image, ['install', '--yes', '--answers', file], env());
  succeeded(t, install, 'install');
  const steps = Object.fromEntries((install.json?.steps ?? []).map((s: { id: string; status: string }) => [s.id, s.status]));
  t.equal(steps['dcc-client'], 'changed', 'the client step changed');
  t.equal(steps['dcc-map'], 'changed', 'the map step changed');
  for (const name of ['dccproc.exe', 'cdcc.exe']) {
    t.ok(
      (await readFile(inImage(image.root, `C:\\sa\\${name}`))).equals(await readFile(path.join(bundle!.dir, name))),
      `C:\\sa\\${name} is the bundled one, byte for byte`,
    );
  }
  // dccproc.exe runs as LocalSystem: an ordinary user must not be able to replace it.
  const acls = (await simState(image))?.acls ?? {};
  t.same(acls['c:\\sa'], { sddl: SAFE_FOLDER_SDDL }, 'C:\\sa was created owned by Administrators, writable by SYSTEM and Administrators only');
  t.notOk(acls['c:\\sa\\etc'], 'the folders inside inherit it');
  const home = inImage(image.root, 'C:\\sa\\etc\\dcc');
  const { entries, info } = await mapInfo(home);
  t.same(entries, [`127.0.0.1,${server.port}`], `cdcc info lists exactly the configured server\n${info}`);
  t.match(info, /\banon\b/, 'as the anonymous client');
  const profileMap = (await readdir(image.root, { recursive: true })).filter((f) => /\.spamassassin[\\/]map$/.test(String(f)));
  t.ok(profileMap.length > 0, 'the map was copied into the profile folder too');
  const localCf = await readFile(inImage(image.root, `${image.rulesDir}\\local.cf`), 'latin1');
  t.match(localCf, /^dcc_home C:\\sa\\etc\\dcc\r?$/m, 'local.cf names the DCC home (no space: no short name needed)');
  t.match(localCf, /^dcc_path C:\\sa\\dccproc\.exe\r?$/m, 'and the bundled dccproc');

  const manifest = JSON.parse(await readFile(path.join(inImage(image.root, install.json.backup), 'manifest.json'), 'utf8'));
  t.same(manifest.dccLicense?.how, 'answers', "the backup manifest records how DCC's licence was accepted");
  t.match(manifest.dccLicense?.sha256, /^[0-9a-f]{64}$/, 'and which licence text');

  const again = await kerioOnImage(image, ['install', '--yes', '--answers', file], env());
  succeeded(t, again, 'second install');
  t.equal(again.json?.changed, false, 'a second run changes nothing');

  // dccproc rewrites its map on every run: the doctor's query changes it, and rollback still removes it.
  const doctor = await kerioOnImage(image, ['doctor', '--answers', file], env());
  const mapCheck = JSON.stringify(doctor.json ?? {}).match(/\{[^{}]*"id":"dcc-client-map"[^{}]*\}/)?.[0];
  t.match(mapCheck, /"ok":true/, `doctor: the bundled cdcc reads the map and it lists the configured servers (${mapCheck})`);
  await writeFile(path.join(home, 'map'), Buffer.concat([await readFile(path.join(home, 'map')), Buffer.from([0])]));
  const rollback = await kerioOnImage(image, ['rollback', '--yes', '--answers', file], env());
  succeeded(t, rollback, 'rollback');
  const after = await hashTree(image.root);
  const ours = (k: string) => !k.startsWith('ProgramData'); // kerio-dcc's backups and the simulated system's state
  t.same(Object.keys(after).filter(ours).sort(), Object.keys(before).filter(ours).sort(), 'rollback removed the programs, map and folders it added');
  t.same(
    Object.fromEntries(Object.entries(after).filter(([k]) => ours(k))),
    Object.fromEntries(Object.entries(before).filter(([k]) => ours(k))),
    'every other file is byte-identical to before',
  );
});

t.test('a map that is there is kept; --force makes a new one from [dcc] servers (the old one backed up)', { skip }, async (t) => {
  const image = await makeImage(t);
  await rm(inImage(image.root, 'C:\\sa\\dccproc.exe'));
  const adminMap = await readFile(inImage(image.root, 'C:\\sa\\etc\\dcc\\map'));
  const file = await answers(t, bundledLines(6277));
  const keep = await kerioOnImage(image, ['install', '--yes', '--answers', file], env());
  succeeded(t, keep, 'install');
  t.ok((await readFile(inImage(image.root, 'C:\\sa\\etc\\dcc\\map'))).equals(adminMap), "the administrator's map is untouched");
  t.match(JSON.stringify(keep.json?.steps), /is there and is kept \(--force makes a new one/, 'the plan says so');
  const force = await kerioOnImage(image, ['install', '--yes', '--force', '--answers', file], env());
  succeeded(t, force, 'install --force');
  const home = inImage(image.root, 'C:\\sa\\etc\\dcc');
  t.same((await mapInfo(home)).entries, ['127.0.0.1,-'], 'with --force the map lists the configured server');
  const rollback = await kerioOnImage(image, ['rollback', '--yes', '--answers', file], env());
  succeeded(t, rollback, 'rollback of the forced run');
  t.ok((await readFile(path.join(home, 'map'))).equals(adminMap), "rollback puts the administrator's map back");
});

const spamassassin = systemSpamAssassin();
const shippedRules = fixtureRulesDir('4.0.1');
const saSkip = skip || (!spamassassin ? SPAMASSASSIN_MISSING : !shippedRules ? missingFixtureMessage('4.0.1') : false);

t.test('real SpamAssassin 4.0.1 scores DCC through the map the bundled client made', { skip: saSkip }, async (t) => {
  const server = await startDccServer(t, linux!, { brand: 'KerioDccBundled' });
  const work = await tempDir(t, 'kerio-dcc-sa-bundled-');
  const image = await buildImage(path.join(work, 'image'), { ...DEMO_IMAGE, rulesFrom: shippedRules!, addKerioZeroScore: true });
  await rm(path.join(image.root, 'sa'), { recursive: true, force: true });
  succeeded(t, await kerioOnImage(image, ['install', '--yes', '--answers', await answers(t, bundledLines(server.port))], env()), 'install');

  // SpamAssassin on Linux runs the Linux dccproc (the exe is for Windows) with the home the bundled cdcc made.
  const home = inImage(image.root, 'C:\\sa\\etc\\dcc');
  await writeFile(path.join(home, 'whiteclnt'), ''); // SpamAssassin passes -w whiteclnt; Linux dccproc needs it there
  await chmod(path.join(home, 'map'), 0o600); // as in mapInfo
  const site = path.join(work, 'site');
  const userHome = path.join(work, 'home');
  await mkdir(site);
  await mkdir(userHome);
  await writeFile(path.join(work, 'user_prefs'), '');
  await writeFile(
    path.join(site, 'dcc-on-linux.cf'),
    ['ifplugin Mail::SpamAssassin::Plugin::DCC', `dcc_home ${home}`, `dcc_path ${linux!.dccproc}`, 'endif', ''].join('\n'),
  );
  const message = [
    'From: a@example.com',
    'To: b@example.org',
    'Subject: offers',
    'Message-ID: <kerio-dcc-bundled@example.com>',
    '',
    ...Array.from({ length: 20 }, (_, i) => `Line ${i} of the same bulk offer for every reader of this list.`),
    '',
  ].join('\n');
  const messageFile = path.join(work, 'message.eml');
  await writeFile(messageFile, message);
  // A private client home (authenticated) reports the message as bulk first.
  const reporter = await clientHome(linux!, path.join(work, 'reporter'), server.port);
  await execa(linux!.dccproc, ['-h', reporter, '-t', 'many', '-x', '0', '-i', messageFile], { reject: false });
  const rules = inImage(image.root, image.rulesDir);
  const scan = await execa(spamassassin!.bin, ['-C', rules, `--siteconfigpath=${site}`, '-p', path.join(work, 'user_prefs'), '--cf=dns_available no'], {
    input: message,
    env: { HOME: userHome },
    reject: false,
    timeout: 60_000,
  });
  const headers = scan.stdout.slice(0, scan.stdout.indexOf('\n\n')).replace(/\n[ \t]+/g, ' ');
  t.match(
    /^X-Spam-DCC: (.*)$/m.exec(headers)?.[1],
    new RegExp(`^KerioDccBundled: \\S+ ${SERVER_ID}; Body=many`),
    `X-Spam-DCC carries the private server's answer${scan.stderr ? `; ${scan.stderr.slice(-500)}` : ''}`,
  );
  t.match(headers, /^X-Spam-Status: .*\btests=[^\n]*\bDCC_CHECK\b/m, 'DCC_CHECK fires');
});

t.test('uninstall with client = bundled removes the bundled programs, and leaves the home and its map', { skip }, async (t) => {
  const image = await bareImage(t);
  const file = await answers(t, bundledLines(6277));
  succeeded(t, await kerioOnImage(image, ['install', '--yes', '--answers', file], env()), 'install');
  const map = await readFile(inImage(image.root, 'C:\\sa\\etc\\dcc\\map'));
  const run = await kerioOnImage(image, ['uninstall', '--yes', '--answers', file], env());
  succeeded(t, run, 'uninstall');
  const client = (run.json?.steps ?? []).find((s: { id: string }) => s.id === 'dcc-client');
  t.equal(client?.status, 'changed', 'the client step changed');
  t.match(client?.detail, /remove C:\\sa\\dccproc\.exe, C:\\sa\\cdcc\.exe/);
  for (const name of ['dccproc.exe', 'cdcc.exe']) t.notOk(await readFile(inImage(image.root, `C:\\sa\\${name}`)).catch(() => null), `C:\\sa\\${name} is gone`);
  t.ok((await readFile(inImage(image.root, 'C:\\sa\\etc\\dcc\\map'))).equals(map), 'the map is left as it was');
  const again = await kerioOnImage(image, ['uninstall', '--yes', '--answers', file], env());
  succeeded(t, again, 'second uninstall');
  t.equal(again.json?.changed, false, 'a second uninstall changes nothing');
});

t.test(
  'a dccproc.exe that is not the bundled one stops the run (exit 3, nothing changed); --force replaces it and rollback puts it back',
  { skip },
  async (t) => {
    const image = await makeImage(t); // the demo's C:\sa holds its own dccproc.exe
    const theirs = await readFile(inImage(image.root, 'C:\\sa\\dccproc.exe'));
    const before = await hashTree(image.root);
    const file = await answers(t, bundledLines(6277));
    const refused = await kerioOnImage(image, ['install', '--yes', '--answers', file], env());
    exits(t, refused, 3, 'install');
    t.match(refused.json?.error?.message, /^C:\\sa\\dccproc\.exe exists and is not the DCC client kerio-dcc ships\./);
    t.match(refused.json?.error?.hint, /\[dcc\] client = existing.*--force/);
    t.same(await hashTree(image.root), before, 'nothing changed');
    succeeded(t, await kerioOnImage(image, ['install', '--yes', '--force', '--answers', file], env()), 'install --force');
    t.ok(
      (await readFile(inImage(image.root, 'C:\\sa\\dccproc.exe'))).equals(await readFile(path.join(bundle!.dir, 'dccproc.exe'))),
      'replaced by the bundled one',
    );
    succeeded(t, await kerioOnImage(image, ['rollback', '--yes', '--answers', file], env()), 'rollback');
    t.ok((await readFile(inImage(image.root, 'C:\\sa\\dccproc.exe'))).equals(theirs), 'their dccproc.exe is back');
  },
);

t.test('scripts/dcc-client.mjs refuses a tarball that is not the unchanged DCC release: exit 2, nothing built', async (t) => {
  const { createServer } = await import('node:http');
  const { runNode, PROJECT } = await import('./helpers/cli.js');
  const script = path.join(PROJECT, 'scripts', 'dcc-client.mjs');
  const dir = await tempDir(t, 'kerio-dcc-client-script-');
  const tampered = path.join(dir, 'dcc-1.3.158.tar.Z');
  await writeFile(tampered, 'not the DCC source\n');
  const out = path.join(dir, 'out');
  const local = await runNode(script, ['--tarball', tampered, '--out', out]);
  t.equal(local.code, 2, 'a local tarball with another hash: exit 2', { stderr: local.stderr });
  t.match(local.stderr, /is not the unchanged DCC 1\.3\.158 release \(sha256 [0-9a-f]{64}, expected 596bb4a0/);
  // The download path, from a server on 127.0.0.1 that serves other bytes (never upstream here).
  const server = createServer((_req, res) => res.end('a newer or changed release\n'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as { port: number }).port;
  const downloaded = await runNode(script, ['--url', `http://127.0.0.1:${port}/dcc.tar.Z`, '--out', out]);
  t.equal(downloaded.code, 2, 'a download with another hash: exit 2', { stderr: downloaded.stderr });
  t.match(downloaded.stderr, /give dcc-1\.3\.158\.tar\.Z with --tarball FILE/);
  t.same(await readdir(out).catch(() => []), [], 'nothing was built');
  const usage = await runNode(script, ['--tarball', tampered]);
  t.equal(usage.code, 2, 'no --out: exit 2');
  t.match(usage.stderr, /Give --out DIR/);
});
