// An interrupted run (its backup still says applying) is put back before a changing command
// does anything else: with --yes at once; a dry run only says so; without --yes and without a
// terminal the command stops. Built CLI on a demo image with the simulated system.
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { buildContext } from '../src/cli/context.js';
import { recoverUnfinishedRun } from '../src/engine/recover.js';
import { PreconditionError } from '../src/errors.js';
import { saveSimState, SIMULATED_STATE_PATH } from '../src/system/simulated.js';
import { withStateFolderSecured } from '../src/system/simulated/acl.js';
import { hashTree, inImage, makeImage, rulesHost, runCli, simState, type CliResult } from './helpers/cli.js';

const BACKUPS = 'C:\\ProgramData\\kerio-dcc\\backups';

function install(root: string, ...extra: string[]): Promise<CliResult> {
  return runCli(['install', '--root', root, '--simulate', '--json', ...extra]);
}

/** An image where install ran and was killed during its service restart: its files are changed, its backup says applying. */
async function interruptedImage(t: Test): Promise<{ root: string; id: string; rules: string; pristine: Record<string, string> }> {
  const img = await makeImage(t);
  const pristine = await hashTree(rulesHost(img));
  const first = await install(img.root, '--yes');
  t.equal(first.code, 0, 'install', { stderr: first.stderr });
  return { root: img.root, id: await interruptNewest(img.root), rules: rulesHost(img), pristine };
}

/** Marks the newest backup as a run still applying leaves it: its id and its journal's path. */
async function markApplying(root: string): Promise<{ id: string; journal: string }> {
  const backups = inImage(root, BACKUPS);
  const id = (await readdir(backups))
    .filter((n) => /^\d{8}T/.test(n))
    .sort()
    .pop()!;
  const manifestPath = path.join(backups, id, 'manifest.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
  await writeFile(manifestPath, JSON.stringify({ ...manifest, status: 'applying', finishedAt: null }, null, 2));
  return { id, journal: path.join(backups, id, 'journal.jsonl') };
}

/** Makes the newest backup look as a killed run leaves it (manifest applying, last step unfinished): its id. */
async function interruptNewest(root: string): Promise<string> {
  const { id, journal } = await markApplying(root);
  const lines = (await readFile(journal, 'utf8')).trimEnd().split('\n');
  await writeFile(journal, lines.slice(0, -1).join('\n') + '\n');
  return id;
}

t.test('a dry run says the interrupted run would be restored first, and changes nothing', async (t) => {
  const { root } = await interruptedImage(t);
  const before = await hashTree(root);
  const run = await install(root, '--dry-run', '--yes');
  t.equal(run.code, 0, 'exit 0', { stderr: run.stderr });
  t.match(run.stdout + run.stderr, /did not finish: it was interrupted or killed\. A real run restores it from its backup first\./);
  t.same(await hashTree(root), before, 'nothing changed');
});

t.test('without --yes and without a terminal, install stops (exit 3) with the rollback command, and changes nothing', async (t) => {
  const { root, id } = await interruptedImage(t);
  const before = await hashTree(root);
  const run = await install(root);
  t.equal(run.code, 3, 'exit 3', { stderr: run.stderr });
  t.match(run.json?.error?.hint, `Restore it with: kerio-dcc rollback ${id} --yes`);
  t.same(await hashTree(root), before, 'nothing changed');
});

t.test('install --yes restores the interrupted run from its backup first, says so, then installs', async (t) => {
  const { root, id } = await interruptedImage(t);
  const run = await install(root, '--yes');
  t.equal(run.code, 0, 'exit 0', { stderr: run.stderr });
  t.match(run.stderr, `Restoring from ${BACKUPS}\\${id} first`);
  t.match(run.stdout + run.stderr, 'It was restored from its backup before this run.');
  const old = JSON.parse(await readFile(path.join(inImage(root, BACKUPS), id, 'manifest.json'), 'utf8'));
  t.equal(old.status, 'restored', 'the interrupted run is marked restored');
  t.equal((await readdir(inImage(root, BACKUPS))).length, 2, 'and the new install made its own backup');
});

/** The `sc start` commands a run sent. */
function starts(run: CliResult): unknown[] {
  return (run.json?.commands ?? []).filter((c: { program: string; args: string[] }) => /sc\.exe$/i.test(c.program) && c.args[0] === 'start');
}

t.test('the DCC client gone since: uninstall --yes still restores the interrupted run, restarts Kerio on it, then has nothing to do', async (t) => {
  const { root, id, rules, pristine } = await interruptedImage(t);
  await rm(inImage(root, 'C:\\sa\\dccproc.exe'));
  const run = await runCli(['uninstall', '--root', root, '--simulate', '--json', '--yes']);
  t.equal(run.code, 0, 'exit 0: recovery does not need DCC to find the rules folder', { stderr: run.stderr });
  t.match(run.stderr, `Restoring from ${BACKUPS}\\${id} first`);
  t.equal(run.json?.changed, false, 'uninstall found nothing left to remove');
  t.equal(starts(run).length, 1, 'Kerio was restarted once, by the recovery, so that it runs on the restored rules');
  t.same(await hashTree(rules), pristine, 'the rules folder is byte for byte as before the interrupted install');
});

t.test('a recovery that cannot finish stops the run (exit 3), lists what is left and how to finish it', async (t) => {
  const { root, id } = await interruptedImage(t);
  const state = await simState({ root });
  state.services['KerioMailServer']!.startFails = true;
  await saveSimState(inImage(root, SIMULATED_STATE_PATH), withStateFolderSecured(state));
  const run = await install(root, '--yes');
  t.equal(run.code, 3, 'exit 3', { stderr: run.stderr });
  t.match(run.json?.error?.message, /did not finish: it was interrupted or killed\. Restoring it was incomplete:\n {2}- /);
  t.match(run.json?.error?.hint, `Fix the cause, then run: kerio-dcc rollback ${id} --force --yes --restart`);
  const manifest = JSON.parse(await readFile(path.join(inImage(root, BACKUPS), id, 'manifest.json'), 'utf8'));
  t.equal(manifest.status, 'restore-failed', 'the backup records that its restore failed');
  t.equal((await readdir(inImage(root, BACKUPS))).length, 1, 'and the install did not go on to make a backup of its own');
});

/** recoverUnfinishedRun as on a terminal (no --yes): the administrator answers its question. */
async function askedAtTerminal(root: string, answer: boolean): Promise<{ asked: [string, boolean][]; result: string | null; error: unknown }> {
  const ctx = await buildContext({ name: 'install', values: { root, simulate: true }, positionals: [] });
  const asked: [string, boolean][] = [];
  ctx.ui.prompter = {
    input: () => Promise.reject(new Error('recovery asks no text')),
    confirm: (message, defaultValue) => (asked.push([message, defaultValue]), Promise.resolve(answer)),
  };
  Object.assign(ctx.ui, { info: () => undefined, warn: () => undefined, progress: null });
  try {
    return { asked, result: await recoverUnfinishedRun(ctx), error: null };
  } catch (error) {
    return { asked, result: null, error };
  }
}

t.test('on a terminal the administrator is asked first (default yes): yes restores, no stops and changes nothing', async (t) => {
  const question = /did not finish: it was interrupted or killed\. Restore the server from its backup now\?$/;
  const yes = await interruptedImage(t);
  const restored = await askedAtTerminal(yes.root, true);
  t.equal(restored.error, null, 'no error', { error: restored.error });
  t.match(restored.asked, [[question, true]], 'asked once, with yes as the default');
  t.match(restored.result, 'It was restored from its backup before this run.');
  t.same(await hashTree(yes.rules), yes.pristine, 'the rules folder is as before the interrupted install');

  const no = await interruptedImage(t);
  const before = await hashTree(no.root);
  const declined = await askedAtTerminal(no.root, false);
  t.equal(declined.asked.length, 1, 'asked once');
  t.type(declined.error, PreconditionError, 'no stops the run');
  t.match((declined.error as PreconditionError).hint, `Restore it with: kerio-dcc rollback ${no.id} --yes`);
  t.same(await hashTree(no.root), before, 'and changes nothing');
});

t.test('an interrupted backups --secure is not undone: install stops (exit 3) with the command that finishes it, and changes nothing', async (t) => {
  const img = await makeImage(t);
  t.equal((await install(img.root, '--yes')).code, 0, 'install');
  // As the previous version left it: a state folder nobody made safe.
  const state = await simState(img);
  delete state.acls;
  await saveSimState(inImage(img.root, SIMULATED_STATE_PATH), state);
  const secure = (...extra: string[]) => runCli(['backups', '--secure', '--root', img.root, '--simulate', '--json', ...extra]);
  const secured = await secure('--yes');
  t.equal(secured.code, 0, 'backups --secure', { stderr: secured.stderr });
  const id = await interruptNewest(img.root);
  t.equal(
    JSON.parse(await readFile(path.join(inImage(img.root, BACKUPS), id, 'manifest.json'), 'utf8')).command,
    'secure',
    'the interrupted run is the securing',
  );

  const before = await hashTree(img.root);
  const run = await install(img.root, '--yes');
  t.equal(run.code, 3, 'exit 3', { stderr: run.stderr });
  t.match(
    run.json?.error?.message,
    new RegExp(`^An earlier kerio-dcc backups --secure \\(backup ${id}, started [^)]+\\) did not finish: it was interrupted or killed\\.$`),
  );
  t.match(run.json?.error?.hint, /^Finish it with: kerio-dcc backups --secure --yes .*Nothing was changed\.$/);
  t.same(await hashTree(img.root), before, 'nothing changed: the folder was not made unsafe again');

  t.equal((await secure('--yes')).code, 0, 'backups --secure --yes finishes it');
  const again = await install(img.root, '--yes');
  t.equal(again.code, 0, 'then install runs', { stderr: again.stderr });
  t.notMatch(again.stdout + again.stderr, 'did not finish', 'with no interrupted run left');
});

t.test('a file edited since the interrupted run is not overwritten by the recovery: exit 3 names it, and the edit stays', async (t) => {
  const { root, id, rules } = await interruptedImage(t);
  const localCf = path.join(rules, 'local.cf');
  const edited = (await readFile(localCf, 'utf8')) + 'score MY_RULE 1.0\r\n';
  await writeFile(localCf, edited);
  const run = await install(root, '--yes');
  t.equal(run.code, 3, 'exit 3', { stderr: run.stderr });
  t.match(run.json?.error?.message, /Restoring it was incomplete:\n {2}- .*local\.cf/);
  t.match(run.json?.error?.hint, `kerio-dcc rollback ${id} --force --yes --restart`);
  t.equal(await readFile(localCf, 'utf8'), edited, "the administrator's edit is kept");
});

t.test('a run whose every step finished is not recovered, even when marking its backup complete was lost or its journal ends torn', async (t) => {
  const img = await makeImage(t);
  t.equal((await install(img.root, '--yes')).code, 0, 'install');
  const { journal } = await markApplying(img.root);
  await writeFile(journal, (await readFile(journal, 'utf8')) + '{"at":"2026-12-02T10:00:00.000Z","step":');
  const before = await hashTree(rulesHost(img));
  const run = await install(img.root, '--yes');
  t.equal(run.code, 0, 'exit 0', { stderr: run.stderr });
  t.notMatch(run.stdout + run.stderr, 'did not finish', 'no interrupted run is reported');
  t.equal(run.json?.changed, false, 'and there is nothing to do');
  t.same(await hashTree(rulesHost(img)), before, 'the rules folder is as the finished run left it');
});
