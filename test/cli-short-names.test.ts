// A DCC folder with a space (DCC's own Windows default is C:\Program Files\DCC): install
// writes its 8.3 short name, or refuses before any change; status and doctor flag any
// dcc_home/dcc_path in local.cf that SpamAssassin on Windows would split.
import { appendFile, copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { demoMapBytes, type Image } from '../src/demo/image.js';
import { decodePowershell } from '../src/windows/powershell.js';
import { withStateFolderSecured } from '../src/system/simulated/acl.js';
import { hashTree, inImage, kerioOnImage, makeImage, rulesHost, runCli, simState, succeeded, type CliResult } from './helpers/cli.js';

const HOME = 'C:\\Program Files\\DCC';
const SIM_STATE = 'C:\\ProgramData\\kerio-dcc\\simulated-system.json';

/** An image with DCC unpacked in C:\Program Files\DCC, and answers that point there. */
async function imageWithSpacedDcc(t: Test): Promise<{ img: Image; answers: string }> {
  const img = await makeImage(t);
  await mkdir(inImage(img.root, HOME), { recursive: true });
  await copyFile(inImage(img.root, 'C:\\sa\\dccproc.exe'), inImage(img.root, `${HOME}\\dccproc.exe`));
  await writeFile(inImage(img.root, `${HOME}\\map`), demoMapBytes());
  const answers = path.join(path.dirname(img.root), `${path.basename(img.root)}-dcc.ini`);
  await writeFile(answers, `[dcc]\nhome = ${HOME}\ndccproc = ${HOME}\\dccproc.exe\n`);
  t.teardown(() => rm(answers, { force: true }));
  return { img, answers };
}

async function localCf(img: Image): Promise<string> {
  return readFile(inImage(img.root, `${img.rulesDir}\\local.cf`), 'latin1');
}

function exitsWith(t: Test, run: CliResult, code: number): void {
  t.equal(run.code, code, `exits ${code}`, { error: run.json?.error ?? null, stderr: run.stderr });
}

t.test('C:\\Program Files\\DCC is written as C:\\PROGRA~1\\DCC; a second run changes nothing; rollback restores', async (t) => {
  const { img, answers } = await imageWithSpacedDcc(t);
  const before = await hashTree(rulesHost(img));
  const first = await kerioOnImage(img, ['install', '--answers', answers, '--yes']);
  succeeded(t, first, 'install');
  const text = await localCf(img);
  t.match(text, /^dcc_home C:\\PROGRA~1\\DCC\r?$/m, 'dcc_home is the short name');
  t.match(text, /^dcc_path C:\\PROGRA~1\\DCC\\dccproc\.exe\r?$/m, 'dcc_path is the short name');
  t.notMatch(text, /Program Files\\DCC/, 'the long form with its space is written nowhere');
  const step = first.json.steps.find((s: { id: string }) => s.id === 'local-cf');
  t.match(step.notes.join('\n'), /dcc_home is written as C:\\PROGRA~1\\DCC, the 8\.3 short name of C:\\Program Files\\DCC/, 'the plan says which form and why');
  const asked = first.json.commands.map((c: { args: string[] }) => decodePowershell(c.args)).filter((a: { kind: string } | null) => a?.kind === 'short-path');
  t.same(
    asked.map((a: { kind: string; params: object }) => [a.kind, a.params]),
    [
      ['short-path', { path: HOME, type: 'folder' }],
      ['short-path', { path: `${HOME}\\dccproc.exe`, type: 'file' }],
    ],
    'the server was asked, read-only, for both short names',
  );

  const between = await hashTree(img.root);
  const second = await kerioOnImage(img, ['install', '--answers', answers, '--yes']);
  succeeded(t, second, 'second install');
  t.equal(second.json.changed, false, 'the second run changes nothing');
  t.equal(second.json.backup, null);
  t.same(await hashTree(img.root), between, 'every file of the image is as the first run left it');

  const status = await kerioOnImage(img, ['status', '--answers', answers]);
  exitsWith(t, status, 0);
  t.same(
    status.json.data.checks.filter((c: { ok: boolean }) => c.ok === false),
    [],
    'status calls the short form current, not drift',
  );

  succeeded(t, await kerioOnImage(img, ['rollback', '--yes']), 'rollback');
  t.same(await hashTree(rulesHost(img)), before, 'the rules folder is byte-identical to before install');
});

t.test('a volume without 8.3 names: the refusal, exit 3, and nothing changed', async (t) => {
  const { img, answers } = await imageWithSpacedDcc(t);
  await mkdir(path.dirname(inImage(img.root, SIM_STATE)), { recursive: true });
  await writeFile(inImage(img.root, SIM_STATE), JSON.stringify(withStateFolderSecured({ ...(await simState(img)), shortNames: false })));
  const before = await hashTree(img.root);
  const run = await kerioOnImage(img, ['install', '--answers', answers, '--yes']);
  exitsWith(t, run, 3);
  t.match(run.json.error.message, /dcc\.home "C:\\Program Files\\DCC" has a space/);
  t.match(run.json.error.message, /answered "C:\\Program Files\\DCC".*8\.3 names are turned off/);
  t.match(run.json.error.hint, /folder without spaces, such as the how-to's C:\\sa/);
  t.match(run.json.error.hint, /Nothing was changed/);
  t.same(
    run.json.commands.filter((c: { mutates: boolean }) => c.mutates),
    [],
    'no changing command ran',
  );
  t.same(await hashTree(img.root), before, 'every file of the image is byte-identical, and no backup was made');
});

t.test('an image without --simulate has no server to ask: the same refusal, nothing changed', async (t) => {
  const { img, answers } = await imageWithSpacedDcc(t);
  const before = await hashTree(img.root);
  const run = await runCli(['install', '--root', img.root, '--answers', answers, '--yes', '--json']);
  exitsWith(t, run, 3);
  t.match(run.json.error.message, /can only be read from the server itself/);
  t.match(run.json.error.hint, /C:\\sa/);
  t.same(await hashTree(img.root), before, 'every file of the image is byte-identical');
  const status = await runCli(['status', '--root', img.root, '--answers', answers, '--json']);
  const block = status.json.data.checks.find((c: { id: string }) => c.id === 'block');
  t.equal(block.ok, null, 'status cannot check the block there either, and says why');
  t.match(block.detail, /no server to ask/);
});

t.test('status and doctor flag a hand-written dcc_home SpamAssassin would split, and install fixes it', async (t) => {
  const img = await makeImage(t);
  succeeded(t, await kerioOnImage(img, ['install', '--yes']), 'install with the defaults (C:\\sa)');
  const local = inImage(img.root, `${img.rulesDir}\\local.cf`);
  const installed = await readFile(local);
  await appendFile(local, 'dcc_home C:\\Program Files\\DCC   # by hand\r\n');
  const handLine = installed.toString('latin1').split('\n').length;

  for (const command of ['status', 'doctor']) {
    const run = await kerioOnImage(img, [command]);
    exitsWith(t, run, 6);
    const check = run.json.data.checks.find((c: { id: string }) => c.id === 'split-paths');
    t.equal(check.ok, false, `${command}: the split-paths check fails`);
    t.match(check.detail, new RegExp(`local\\.cf line ${handLine}: dcc_home "C:\\\\Program Files\\\\DCC" has a space \\(outside kerio-dcc's block\\)`));
    t.match(run.json.error.hint, /To fix it, run: kerio-dcc install --root .* --simulate/, `${command}: the hint is the fix command`);
  }

  const fix = await kerioOnImage(img, ['install', '--yes']);
  succeeded(t, fix, 'the fix command');
  t.match((await localCf(img)).split(/\r?\n/)[handLine - 1], /^#kerio-dcc-off# dcc_home C:\\Program Files\\DCC/, 'install turned the hand-written line off');
  exitsWith(t, await kerioOnImage(img, ['status']), 0);
  succeeded(t, await kerioOnImage(img, ['rollback', '--yes']), 'rollback of the fix');
  t.match(await localCf(img), /\r\ndcc_home C:\\Program Files\\DCC {3}# by hand\r\n$/, 'rollback gives the hand-written line back');
});

t.test('an extra line that sets a split-prone dcc_home is an answers error (exit 2)', async (t) => {
  const img = await makeImage(t);
  const answers = path.join(path.dirname(img.root), `${path.basename(img.root)}-extra.ini`);
  await writeFile(answers, '[dcc]\nextra_lines[] = dcc_home C:\\Program Files\\DCC\n');
  t.teardown(() => rm(answers, { force: true }));
  const before = await hashTree(img.root);
  const run = await kerioOnImage(img, ['install', '--answers', answers, '--yes']);
  exitsWith(t, run, 2);
  t.match(run.json.error.message, /dcc\.extra_lines.*sets dcc_home to a path with a space/);
  t.same(await hashTree(img.root), before);
});
