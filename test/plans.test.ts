// Plans as data: given the files of a server and the facts detected on it, this plan. No
// process is started and nothing is applied by kerio-dcc: the test carries out a plan's
// file actions itself where it needs the next state. The end-to-end tests (cli-*.test.ts)
// prove the same plans applied through the CLI.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import t from 'tap';
import { loadAnswers } from '../src/answers/load.js';
import { DEMO_IMAGE, buildImage, demoMapBytes, type Image } from '../src/demo/image.js';
import { detectFacts } from '../src/detect/facts.js';
import type { Planning } from '../src/model/context.js';
import type { Action, Plan } from '../src/model/plan.js';
import { planInstall } from '../src/plans/install.js';
import { planUninstall } from '../src/plans/uninstall.js';
import { Target, joinWin } from '../src/target/target.js';
import { tempDir } from './helpers/cli.js';

const SYSWOW64_PROFILE = 'C:\\Windows\\SysWOW64\\config\\systemprofile\\.spamassassin';

/** A demo image and the planning context of a run on it without a system; `ini`: an answers file's text. */
async function planning(t: Parameters<typeof tempDir>[0], ini?: string): Promise<{ ctx: Planning; image: Image }> {
  const dir = await tempDir(t);
  const image = await buildImage(dir, DEMO_IMAGE);
  if (ini !== undefined) await writeFile(`${dir}/answers.ini`, ini);
  const loaded = await loadAnswers(ini === undefined ? null : `${dir}/answers.ini`);
  const ctx: Planning = {
    target: new Target({ root: image.root }),
    runner: null,
    answers: loaded.answers,
    options: { dryRun: false, yes: true, restart: false, simulate: false, force: false },
  };
  return { ctx, image };
}

const statuses = (plan: Plan) => plan.steps.map((s) => [s.id, s.status]);
const paths = (actions: Action[]) => actions.map((a) => `${a.kind} ${'path' in a ? a.path : ''}`);

/** Carries out a plan's file actions, as apply would (without its backup and journal). */
async function applyFiles(ctx: Planning, plan: Plan): Promise<void> {
  for (const a of plan.steps.flatMap((s) => s.actions)) {
    if (a.kind === 'mkdir') await mkdir(ctx.target.toHost(a.path), { recursive: true });
    else if (a.kind === 'writeFile') await writeFile(ctx.target.toHost(a.path), a.content);
    else if (a.kind !== 'deleteFile') throw new Error(`unexpected ${a.kind} in a plan without a system`);
    else await import('node:fs/promises').then((fs) => fs.unlink(ctx.target.toHost(a.path)));
  }
}

t.test(
  'a server never provisioned, on an image without a system: install creates the 32-bit profile, copies the map, edits local.cf and v310.pre',
  async (t) => {
    const { ctx, image } = await planning(t);
    const facts = await detectFacts(ctx, { requireDcc: true });
    const plan = await planInstall(ctx, facts);
    t.same(statuses(plan), [
      ['locate', 'unchanged'],
      ['backup', 'change'],
      ['profile', 'change'],
      ['map', 'change'],
      ['local-cf', 'change'],
      ['v310-pre', 'change'],
      ['firewall', 'skipped'],
      ['service', 'skipped'],
    ]);
    const step = (id: string) => plan.steps.find((s) => s.id === id)!;
    t.same(paths(step('profile').actions), [`mkdir ${SYSWOW64_PROFILE}`], '32-bit Kerio on 64-bit Windows: only the SysWOW64 profile');
    t.same(paths(step('map').actions), [`writeFile ${SYSWOW64_PROFILE}\\map`]);
    const map = step('map').actions[0]!;
    t.ok(map.kind === 'writeFile' && map.content.equals(demoMapBytes()), "the map copy is DCC's map, byte for byte");
    t.same(paths(step('local-cf').actions), [`writeFile ${joinWin(image.rulesDir, 'local.cf')}`]);
    const mentioningDcc = ['25_dcc.cf', '50_scores.cf'].map((n) => joinWin(image.rulesDir, n));
    t.same(
      [...plan.readHashes.keys()].sort(),
      [...mentioningDcc, joinWin(image.rulesDir, 'local.cf'), joinWin(image.rulesDir, 'v310.pre')].sort(),
      'apply will refuse if local.cf, v310.pre or a file that scores DCC changes before it runs',
    );
    t.same(plan.backupTrees, [image.rulesDir]);
    t.match(step('local-cf').diffs.join('\n'), /\+# BEGIN kerio-dcc/);
    t.equal(step('service').actions.length, 0, 'no restart without a system');
  },
);

t.test('after that plan is carried out, the install plan changes nothing and the uninstall plan takes out exactly what it put in', async (t) => {
  const { ctx, image } = await planning(t);
  const localCf = ctx.target.toHost(joinWin(image.rulesDir, 'local.cf'));
  const before = await readFile(localCf);
  await applyFiles(ctx, await planInstall(ctx, await detectFacts(ctx, { requireDcc: true })));

  const again = await planInstall(ctx, await detectFacts(ctx, { requireDcc: true }));
  t.same(
    statuses(again).filter(([, s]) => s === 'change'),
    [],
    'idempotent: nothing to change, not even the backup',
  );
  t.same(
    again.steps.flatMap((s) => s.checks).filter((c) => c.ok === false),
    [],
    'and every check it makes for status holds',
  );

  const uninstall = await planUninstall(ctx, await detectFacts(ctx, { requireDcc: false }));
  t.same(
    statuses(uninstall),
    [
      ['locate', 'unchanged'],
      ['backup', 'change'],
      ['map', 'change'],
      ['local-cf', 'change'],
      ['v310-pre', 'change'],
      ['firewall', 'skipped'],
      ['service', 'skipped'],
    ],
    'the profile folder is left (it may hold other users of SpamAssassin)',
  );
  t.same(paths(uninstall.steps.find((s) => s.id === 'map')!.actions), [`deleteFile ${SYSWOW64_PROFILE}\\map`]);
  await applyFiles(ctx, uninstall);
  t.same(await readFile(localCf), before, 'local.cf is byte for byte as before install');
});

t.test('facts given in the answers decide the plan: two profile folders named there both get the map', async (t) => {
  const dirs = ['C:\\Users\\kerio\\.spamassassin', 'C:\\Windows\\System32\\config\\systemprofile\\.spamassassin'];
  const { ctx } = await planning(t, `[dcc]\n${dirs.map((d) => `profile_dirs[] = ${d}\n`).join('')}`);
  const facts = await detectFacts(ctx, { requireDcc: true });
  t.equal((await facts.profile()).rule, 'dcc.profile_dirs in the answers file');
  const plan = await planInstall(ctx, facts);
  t.same(
    paths(plan.steps.find((s) => s.id === 'map')!.actions),
    dirs.map((d) => `writeFile ${d}\\map`),
  );
});

t.test("a map copy that differs from DCC's map is not drift (dccproc rewrites its copy), but an empty one is", async (t) => {
  const { ctx } = await planning(t);
  await applyFiles(ctx, await planInstall(ctx, await detectFacts(ctx, { requireDcc: true })));
  const copy = ctx.target.toHost(`${SYSWOW64_PROFILE}\\map`);
  await writeFile(copy, Buffer.concat([demoMapBytes(), Buffer.from('state dccproc keeps')]));
  const used = await planInstall(ctx, await detectFacts(ctx, { requireDcc: true }));
  t.equal(used.steps.find((s) => s.id === 'map')!.status, 'unchanged');
  await writeFile(copy, Buffer.alloc(0));
  const emptied = await planInstall(ctx, await detectFacts(ctx, { requireDcc: true }));
  const map = emptied.steps.find((s) => s.id === 'map')!;
  t.equal(map.status, 'change');
  t.match(map.checks, [{ id: 'map', ok: false, detail: `${SYSWOW64_PROFILE}\\map is empty` }]);
});

t.test('a linked rule file that scores DCC zero: the install plan is refused, naming it, but the checks still say where DCC is scored zero', async (t) => {
  const { ctx, image } = await planning(t);
  const outside = await tempDir(t);
  await writeFile(`${outside}/zero.cf`, 'score DCC_CHECK 0\n');
  await import('node:fs/promises').then((fs) => fs.symlink(`${outside}/zero.cf`, ctx.target.toHost(joinWin(image.rulesDir, '60_linked.cf'))));
  const facts = await detectFacts(ctx, { requireDcc: true });
  await t.rejects(planInstall(ctx, facts), /60_linked\.cf is a link/);
  const { localCf } = await import('../src/managed/localCf.js');
  const step = await localCf.install(ctx, facts, []);
  t.match(step.refusal?.message, /60_linked\.cf is a link/);
  t.match(
    step.checks.find((c) => c.id === 'scores'),
    { ok: false, detail: /60_linked\.cf line 1/ },
  );
});
