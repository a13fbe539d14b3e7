import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir, readlink, rename, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { LiveRunner } from '../src/system/liveRunner.js';
import { loadSimState, saveSimState, SIMULATED_STATE_PATH } from '../src/system/simulated.js';
import { hashTree, inImage, makeImage, tempDir, type CliResult, kerioOnImage } from './helpers/cli.js';
import { readBackupJson, writeBackupJson } from './helpers/backupStore.js';
import { withStateFolderSecured } from '../src/system/simulated/acl.js';

// A subtest's `t`, as the last overload of t.test (the callback alone) gives it.
type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

// Each test works on its own image; two at a time keeps a 2-core machine busy.
t.jobs = 2;

const BACKUPS = 'C:\\ProgramData\\kerio-dcc\\backups';
/** Every character a shell (cmd.exe or sh) would act on, in one folder or rule name. */
const SPECIAL = '& %PATH% ^x é ü';

const kerio = kerioOnImage;

async function answersFile(t: Tap, text: string): Promise<string> {
  const file = path.join(await tempDir(t), 'answers.ini');
  await writeFile(file, text, 'utf8');
  return file;
}

/** Like hashTree, but a link is recorded as where it points and never followed. */
async function treeWithLinks(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const hashes = await hashTree(dir).catch(() => ({}) as Record<string, string>);
  for (const name of await readdir(dir)) {
    const full = path.join(dir, name);
    const info = await lstat(full);
    if (info.isSymbolicLink()) out[name] = `link -> ${await readlink(full)}`;
    else out[name] = info.isDirectory() ? 'dir' : (hashes[name] ?? 'unreadable');
  }
  return out;
}

function errorOf(result: CliResult): { message: string; hint: string | null } | null {
  return result.json?.error ?? null;
}

t.test('install, status and rollback work on an image whose --root path holds & " % ^ spaces and non-ASCII characters', async (t) => {
  const img = await makeImage(t, {}, `kerio-dcc ${SPECIAL} "quoted" -`);
  t.match(img.root, /& %PATH% \^x é ü "quoted"/, 'the folder name really holds them');
  const rules = inImage(img.root, img.rulesDir);
  const original = await hashTree(rules);
  const install = await kerio(img, ['install', '--yes']);
  t.equal(install.code, 0, 'install exits 0', { error: errorOf(install) });
  t.match(await readFile(path.join(rules, 'local.cf'), 'latin1'), /# BEGIN kerio-dcc/, 'local.cf got the kerio-dcc block');
  const status = await kerio(img, ['status']);
  t.equal(status.code, 0, 'status finds DCC on', { error: errorOf(status) });
  const rollback = await kerio(img, ['rollback', '--yes']);
  t.equal(rollback.code, 0, 'rollback exits 0', { error: errorOf(rollback) });
  t.same(await hashTree(rules), original, 'rollback gives back the original rules folder');
});

t.test(
  'answers naming install_dir, backup.dir and a firewall name with & % ^ spaces and non-ASCII work, and every such name reaches its command intact',
  async (t) => {
    const img = await makeImage(t);
    // Kerio lives in a folder with every troublesome character; the service's program path says so.
    const installDir = `C:\\Kerio ${SPECIAL}\\MailServer`;
    await rename(inImage(img.root, 'C:\\Program Files (x86)\\Kerio'), inImage(img.root, `C:\\Kerio ${SPECIAL}`));
    await saveSimState(
      inImage(img.root, SIMULATED_STATE_PATH),
      withStateFolderSecured({
        schema: 1,
        elevated: true,
        language: 'en',
        firewall: [],
        services: {
          KerioMailServer: { state: 4, binaryPath: `"${installDir}\\mailserver.exe"`, startName: 'LocalSystem', stopHangs: false, startFails: false },
        },
      }),
    );
    const rulesDir = `${installDir}\\plugins\\spamassassin\\rules`;
    const original = await hashTree(inImage(img.root, rulesDir));
    const backupDir = `C:\\Backups ${SPECIAL}\\kerio-dcc`;
    const prefix = 'Kerio & DCC %PATH% ^x';
    const answers = await answersFile(t, `[kerio]\ninstall_dir = ${installDir}\n[backup]\ndir = ${backupDir}\n[firewall]\nname_prefix = ${prefix}\n`);

    const install = await kerio(img, ['install', '--yes', '--answers', answers]);
    t.equal(install.code, 0, 'install exits 0', { error: errorOf(install) });
    t.match(await readFile(inImage(img.root, `${rulesDir}\\local.cf`), 'latin1'), /# BEGIN kerio-dcc/, 'local.cf in that folder got the block');
    const backups = await readdir(inImage(img.root, backupDir));
    t.equal(backups.length, 1, `the backup went to ${backupDir}`);
    t.ok(existsSync(path.join(inImage(img.root, backupDir), backups[0] ?? '', 'manifest.json')), 'with its manifest');

    const records: { program: string; args: string[] }[] = install.json?.commands ?? [];
    t.ok(records.length > 0, 'the JSON output records the commands');
    t.ok(
      records.every((r) => /^C:\\Windows\\System32\\(WindowsPowerShell\\v1\.0\\)?[a-z]+\.exe$/i.test(r.program) && Array.isArray(r.args)),
      'every command is an absolute program with an argument array (nothing for a shell to parse)',
    );
    const adds = records.filter((r) => r.args[2] === 'add').map((r) => r.args);
    t.same(
      adds.map((args) => args[4]),
      [`name=${prefix} (UDP 6277 out)`, `name=${prefix} (UDP 6277 in)`],
      'each rule name is one argument, with & % ^ exactly as given',
    );
    const sim = await loadSimState(inImage(img.root, SIMULATED_STATE_PATH));
    t.same(
      sim?.firewall.map((r) => r.name),
      [`${prefix} (UDP 6277 out)`, `${prefix} (UDP 6277 in)`],
      'the firewall holds rules with exactly those names',
    );

    const status = await kerio(img, ['status', '--answers', answers]);
    t.equal(status.code, 0, 'status with the same answers finds DCC on', { error: errorOf(status) });
    const rollback = await kerio(img, ['rollback', '--yes', '--answers', answers]);
    t.equal(rollback.code, 0, 'rollback exits 0', { error: errorOf(rollback) });
    t.same(await hashTree(inImage(img.root, rulesDir)), original, 'rollback gives back the original rules folder');
    t.same((await loadSimState(inImage(img.root, SIMULATED_STATE_PATH)))?.firewall, [], 'and removes both rules');
  },
);

t.test('a program gets hostile arguments byte for byte: no shell sees them', async (t) => {
  const dir = await tempDir(t);
  const canary = path.join(dir, 'shell-ran');
  const hostile = [
    'a & b',
    '%PATH%',
    '^x',
    '"quoted"',
    `$(touch ${canary})`,
    `\`touch ${canary}\``,
    `x; touch ${canary}`,
    `| touch ${canary}`,
    'line\nbreak',
    'é ü',
  ];
  const result = await new LiveRunner().run({
    program: process.execPath,
    args: ['-e', 'process.stdout.write(JSON.stringify(process.argv.slice(1)))', ...hostile],
    mutates: false,
  });
  t.equal(result.exitCode, 0, 'the program ran', { stderr: result.stderr });
  t.same(JSON.parse(result.stdout), hostile, 'it received every argument unchanged');
  t.notOk(existsSync(canary), 'nothing was run by a shell');
});

t.test('a dcc.home with & or ^ (characters SpamAssassin refuses in paths) is refused with exit 2, and no byte of the image changes', async (t) => {
  for (const home of ['C:\\sa & co\\etc\\dcc', 'C:\\sa^x\\etc\\dcc']) {
    const img = await makeImage(t);
    const before = await hashTree(img.root);
    const result = await kerio(img, ['install', '--yes', '--answers', await answersFile(t, `[dcc]\nhome = ${home}\n`)]);
    t.equal(result.code, 2, `${home}: exit 2`, { error: errorOf(result) });
    t.match(
      errorOf(result)?.message,
      /dcc\.home \(line 2\): .*characters SpamAssassin refuses in paths/,
      `${home}: the message names the key, the line and the reason`,
    );
    t.same(await hashTree(img.root), before, `${home}: nothing changed`);
  }
});

t.test('a value with an embedded line break (a JSON-quoted "\\n") is refused with exit 2 naming the key, and no byte of the image changes', async (t) => {
  const cases = [
    { key: 'dcc.home', ini: '[dcc]\nhome = "C:\\\\sa\\nuse_dcc 0"\n' },
    { key: 'firewall.name_prefix', ini: '[firewall]\nname_prefix = "Kerio\\nscore DCC_CHECK 0"\n' },
    { key: 'backup.dir', ini: '[backup]\ndir = "C:\\\\b\\nx"\n' },
  ];
  for (const c of cases) {
    const img = await makeImage(t);
    const before = await hashTree(img.root);
    const result = await kerio(img, ['install', '--yes', '--answers', await answersFile(t, c.ini)]);
    t.equal(result.code, 2, `${c.key}: exit 2`, { error: errorOf(result) });
    t.match(
      errorOf(result)?.message,
      new RegExp(`${c.key.replace('.', '\\.')} \\(line 2\\): .*control character`),
      `${c.key}: the message names the key and the line break`,
    );
    t.same(await hashTree(img.root), before, `${c.key}: nothing changed`);
  }
});

t.test(
  'links in the rules folder are not followed: the backup lists them as skipped, copies nothing through them, and install and rollback work',
  async (t) => {
    const img = await makeImage(t);
    const rules = inImage(img.root, img.rulesDir);
    const outside = await tempDir(t);
    const outsideCf = path.join(outside, 'outside.cf');
    await writeFile(outsideCf, '# a rule file that lives outside the rules folder\n');
    await symlink('/etc', path.join(rules, 'evil'));
    await symlink(outsideCf, path.join(rules, '99_linked.cf'));
    const outsideBefore = await hashTree(outside);

    const install = await kerio(img, ['install', '--yes']);
    t.equal(install.code, 0, 'install exits 0', { error: errorOf(install) });
    const [id] = await readdir(inImage(img.root, BACKUPS));
    const backupDir = path.join(inImage(img.root, BACKUPS), id ?? '');
    const manifest = await readBackupJson(backupDir);
    t.same(
      [...manifest.skipped].sort(),
      [`${img.rulesDir}\\99_linked.cf (a link or junction: not followed)`, `${img.rulesDir}\\evil (a link or junction: not followed)`],
      'the manifest lists both links as skipped',
    );
    t.notOk(
      manifest.files.some((f: { path: string }) => /\\(evil|99_linked\.cf)(\\|$)/.test(f.path)),
      'no backed-up file comes from a link',
    );
    const copied = Object.keys(await hashTree(backupDir));
    t.notOk(
      copied.some((p) => /passwd|hostname|evil|99_linked/.test(p)),
      'nothing of /etc or the linked file was copied into the backup',
    );
    t.same(await hashTree(outside), outsideBefore, 'the linked file outside is untouched');
    t.equal(await readlink(path.join(rules, 'evil')), '/etc', 'the link to /etc is still a link to /etc');

    const rollback = await kerio(img, ['rollback', '--yes']);
    t.equal(rollback.code, 0, 'rollback exits 0', { error: errorOf(rollback) });
    t.same(await hashTree(outside), outsideBefore, 'the linked file outside is still untouched');
    t.equal(await readlink(path.join(rules, '99_linked.cf')), outsideCf, 'the linked .cf is still the same link');
  },
);

t.test(
  'a linked .cf that scores DCC_CHECK 0 is not passed over in silence: install refuses it with exit 3, naming it, and status does not call DCC on',
  async (t) => {
    // SpamAssassin reads a linked .cf like any other, so its `score DCC_CHECK 0` keeps DCC off.
    const img = await makeImage(t);
    const rules = inImage(img.root, img.rulesDir);
    const outside = await tempDir(t);
    await writeFile(path.join(outside, 'zero.cf'), 'score DCC_CHECK 0\n');
    await symlink(path.join(outside, 'zero.cf'), path.join(rules, '60_linked.cf'));
    const before = await hashTree(img.root);
    const install = await kerio(img, ['install', '--yes']);
    const said = `${errorOf(install)?.message ?? ''}\n${(install.json?.warnings ?? []).join('\n')}\n${JSON.stringify(install.json?.steps ?? [])}\n${install.stderr}`;
    // Turning the score off would mean writing through the link, which kerio-dcc never does: it refuses.
    t.equal(install.code, 3, 'install refuses with exit 3', { error: errorOf(install) });
    t.match(
      errorOf(install)?.message,
      /rules\\60_linked\.cf is a link \(symlink or junction\); kerio-dcc does not write through links/,
      'the message names the linked file and why',
    );
    t.match(said, /60_linked\.cf/, 'its output names the linked file', { error: errorOf(install), warnings: install.json?.warnings });
    t.equal(await readFile(path.join(outside, 'zero.cf'), 'latin1'), 'score DCC_CHECK 0\n', 'the file behind the link is not written through');
    t.same(await hashTree(img.root), before, 'no byte of the image changed');
    const status = await kerio(img, ['status']);
    const scores = status.json?.data?.checks?.find((c: { id: string }) => c.id === 'scores');
    t.ok(scores, 'status has the "no active score DCC_CHECK 0" check', { checks: status.json?.data?.checks?.map((c: { id: string }) => c.id) });
    t.equal(scores?.ok, false, 'status does not report "no active score DCC_CHECK 0" while SpamAssassin reads one');
    t.match(scores?.detail, /DCC is scored zero in 60_linked\.cf line 1/, 'and names the linked file as where DCC is scored zero');
  },
);

t.test('a local.cf that is a link is refused with exit 3 and nothing is changed', async (t) => {
  const img = await makeImage(t);
  const rules = inImage(img.root, img.rulesDir);
  const outside = await tempDir(t);
  await rename(path.join(rules, 'local.cf'), path.join(outside, 'local.cf'));
  await symlink(path.join(outside, 'local.cf'), path.join(rules, 'local.cf'));
  const rulesBefore = await treeWithLinks(rules);
  const outsideBefore = await hashTree(outside);
  const install = await kerio(img, ['install', '--yes']);
  t.equal(install.code, 3, 'exit 3', { error: errorOf(install) });
  t.match(
    errorOf(install)?.message,
    /rules\\local\.cf is a link \(symlink or junction\); kerio-dcc does not write through links/,
    'the message names the file and why',
  );
  t.match(errorOf(install)?.hint, /Nothing was changed/, 'the hint says nothing was changed');
  t.same(await treeWithLinks(rules), rulesBefore, 'the rules folder is as before (the link still a link)');
  t.same(await hashTree(outside), outsideBefore, 'the file behind the link is untouched');
  t.same(await readdir(inImage(img.root, BACKUPS)).catch(() => []), [], 'no backup was made');
  t.notOk(existsSync(inImage(img.root, 'C:\\Windows\\SysWOW64\\config\\systemprofile\\.spamassassin')), 'no profile folder was made');
  t.same((await loadSimState(inImage(img.root, SIMULATED_STATE_PATH)))?.firewall ?? [], [], 'no firewall rule was added');
});

t.test('rollback refuses a manifest whose file path climbs out with .., with exit 3, and changes nothing', async (t) => {
  const img = await makeImage(t);
  const install = await kerio(img, ['install', '--yes']);
  t.equal(install.code, 0, 'install exits 0', { error: errorOf(install) });
  const victim = inImage(img.root, 'C:\\Windows\\win.ini');
  await mkdir(path.dirname(victim), { recursive: true });
  await writeFile(victim, '; for 16-bit app support\r\n');
  const [id] = await readdir(inImage(img.root, BACKUPS));
  const backupDir = path.join(inImage(img.root, BACKUPS), id ?? '');
  const manifest = await readBackupJson(backupDir);
  const entry = manifest.files.find((f: { path: string }) => f.path.endsWith('\\local.cf'));
  entry.path = `${img.rulesDir}\\..\\..\\..\\..\\..\\..\\Windows\\win.ini`;
  await writeBackupJson(backupDir, manifest);
  const before = await hashTree(img.root);

  const rollback = await kerio(img, ['rollback', '--yes']);
  t.equal(rollback.code, 3, 'exit 3', { error: errorOf(rollback) });
  t.match(
    errorOf(rollback)?.message,
    /cannot be trusted: it names .*\\\.\.\\.*win\.ini, outside the rules folder/,
    'the message says why the backup is not trusted',
  );
  t.match(errorOf(rollback)?.hint, /Nothing was changed/, 'the hint says nothing was changed');
  const after = await hashTree(img.root);
  // The lock comes and goes; everything else must be byte for byte as it was.
  t.same(after, before, 'no byte of the image changed');
  t.equal(await readFile(victim, 'latin1'), '; for 16-bit app support\r\n', 'win.ini is untouched');
});
