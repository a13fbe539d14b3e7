// An interrupted run (its backup still says applying) is put back before a changing command
// does anything else: with --yes at once; a dry run only says so; without --yes and without a
// terminal the command stops. Built CLI on a demo image with the simulated system.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { hashTree, inImage, makeImage, runCli, type CliResult } from './helpers/cli.js';

const BACKUPS = 'C:\\ProgramData\\kerio-dcc\\backups';

function install(root: string, ...extra: string[]): Promise<CliResult> {
  return runCli(['install', '--root', root, '--simulate', '--json', ...extra]);
}

/** An image where install ran and was killed during its service restart: its files are changed, its backup says applying. */
async function interruptedImage(t: Test): Promise<{ root: string; id: string }> {
  const img = await makeImage(t);
  const first = await install(img.root, '--yes');
  t.equal(first.code, 0, 'install', { stderr: first.stderr });
  const backups = inImage(img.root, BACKUPS);
  const [id] = await readdir(backups);
  const manifestPath = path.join(backups, id!, 'manifest.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
  manifest.status = 'applying';
  manifest.finishedAt = null;
  await writeFile(manifestPath, JSON.stringify(manifest, null, 2));
  const journalPath = path.join(backups, id!, 'journal.jsonl');
  const journal = (await readFile(journalPath, 'utf8')).trimEnd().split('\n');
  await writeFile(journalPath, journal.slice(0, -1).join('\n') + '\n');
  return { root: img.root, id: id! };
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
