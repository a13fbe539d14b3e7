// doctor's live DCC self-test against a real process: a stub dccproc (a sh script) run by
// the LiveRunner, so argument passing, output capture and the timeout kill are the real ones.
import { chmod, copyFile, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { loadAnswers } from '../src/answers/load.js';
import type { Location } from '../src/detect/locate.js';
import type { RunContext } from '../src/engine/context.js';
import { dccSelfTest } from '../src/status/doctor.js';
import { LiveRunner } from '../src/system/liveRunner.js';
import { RecordingRunner } from '../src/system/runner.js';
import { Target } from '../src/target/target.js';
import { PROJECT, tempDir } from './helpers/cli.js';

const STUB = path.join(PROJECT, 'test', 'helpers', 'stub-dccproc-doctor');

// The stub is a sh script; Windows has no POSIX shell to run it.
const skip = process.platform === 'win32' ? 'the stub dccproc needs a POSIX shell' : false;

const defaults = await loadAnswers(null);

interface Rig {
  ctx: RunContext;
  runner: RecordingRunner;
  location: Location;
  home: string;
}

/** A DCC home with the stub dccproc in it, answering as `mode` says ("answers BRAND", "unreachable", "hangs"). */
async function rig(tt: Parameters<typeof tempDir>[0], mode: string | null, options: { dccproc?: string; live?: boolean } = {}): Promise<Rig> {
  const home = await tempDir(tt, 'kerio-dcc-selftest-');
  const dccproc = path.join(home, 'dccproc');
  await copyFile(STUB, dccproc);
  await chmod(dccproc, 0o755);
  if (mode !== null) await writeFile(path.join(home, 'stub-dccproc-mode'), `${mode}\n`);
  const runner = new RecordingRunner(new LiveRunner(), false);
  const ctx: RunContext = {
    target: new Target({ root: home }),
    runner: options.live === false ? null : runner,
    answers: defaults.answers,
    loaded: defaults,
    options: { dryRun: false, yes: true, restart: false, simulate: false, force: false },
    log: { info: () => {}, warn: () => {}, progress: null },
    prompter: null,
    now: () => new Date(),
    toolVersion: 'test',
  };
  const location: Location = {
    installDir: home,
    installSource: 'test',
    rulesDir: home,
    v310Pre: path.join(home, 'v310.pre'),
    localCf: path.join(home, 'local.cf'),
    service: null,
    dccHome: home,
    dccproc: options.dccproc ?? dccproc,
    map: path.join(home, 'map'),
  };
  return { ctx, runner, location, home };
}

function check(result: Awaited<ReturnType<typeof dccSelfTest>>, id: string) {
  const found = result.checks.find((c) => c.id === id);
  if (!found) throw new Error(`no check "${id}" in ${JSON.stringify(result.checks)}`);
  return found;
}

function queryRecord(runner: RecordingRunner) {
  const queries = runner.records.filter((r) => r.args.includes('-Q'));
  if (queries.length !== 1) throw new Error(`expected one query, recorded ${JSON.stringify(runner.records)}`);
  return queries[0]!;
}

t.test('a DCC server that answers yields the version, the brand and an ok query', { skip }, async (tt) => {
  const { ctx, runner, location, home } = await rig(tt, 'answers KerioTestBrand');
  const result = await dccSelfTest(ctx, location, 10);
  tt.equal(result.version, '2.3.169');
  tt.equal(result.brand, 'KerioTestBrand');
  tt.equal(check(result, 'dccproc-version').ok, true);
  const query = check(result, 'dcc-query');
  tt.equal(query.ok, true);
  tt.match(query.detail, /KerioTestBrand/);
  tt.same(runner.records[0]?.args, ['-V'], 'the version is asked first');
  const args = queryRecord(runner).args;
  tt.equal(args[args.indexOf('-h') + 1], home, 'dccproc is pointed at the DCC home');
  for (const flag of ['-C', '-x']) tt.ok(args.includes(flag), `the query passes ${flag}`);
  tt.equal(args[args.indexOf('-x') + 1], '0');
});

t.test('the self-test only queries: no -t, nothing that changes anything', { skip }, async (tt) => {
  const { ctx, runner, location } = await rig(tt, 'answers KerioTestBrand');
  await dccSelfTest(ctx, location, 10);
  tt.ok(runner.records.length >= 2, 'dccproc ran');
  for (const record of runner.records) {
    tt.notOk(record.args.some((a) => a.startsWith('-t')), `no -t in ${record.args.join(' ')}`);
    tt.equal(record.mutates, false, `${record.args.join(' ')} is a read-only command`);
  }
  tt.ok(queryRecord(runner).args.includes('-Q'));
});

t.test('the test message is a readable file while dccproc runs and is removed afterwards', { skip }, async (tt) => {
  const { ctx, runner, location } = await rig(tt, 'answers KerioTestBrand');
  const result = await dccSelfTest(ctx, location, 10);
  // The stub fails the query unless -i names a readable file, so an ok query proves it was there.
  tt.equal(check(result, 'dcc-query').ok, true);
  const args = queryRecord(runner).args;
  const message = args[args.indexOf('-i') + 1]!;
  tt.ok(path.isAbsolute(message), 'the message is passed by absolute path');
  tt.notOk(existsSync(message), 'the temporary message is gone after the test');
});

t.test('no working DCC servers fails the query with the UDP 6277 firewall advice', { skip }, async (tt) => {
  const { ctx, location } = await rig(tt, 'unreachable');
  const result = await dccSelfTest(ctx, location, 10);
  tt.equal(result.brand, null);
  tt.equal(check(result, 'dccproc-version').ok, true, 'dccproc itself runs');
  const query = check(result, 'dcc-query');
  tt.equal(query.ok, false);
  tt.match(query.detail, /no working DCC servers/);
  tt.match(query.detail, /UDP 6277/);
  tt.match(query.detail, /firewall/i);
});

t.test('a dccproc that hangs is killed after the timeout and reported as no answer', { skip }, async (tt) => {
  const { ctx, location, home } = await rig(tt, 'hangs');
  const started = Date.now();
  const result = await dccSelfTest(ctx, location, 1);
  const elapsed = Date.now() - started;
  tt.ok(elapsed >= 900, `it waited for the timeout (${elapsed} ms)`);
  tt.ok(elapsed < 8000, `it returned soon after the 1 s timeout, not after the stub's 60 s sleep (${elapsed} ms)`);
  const query = check(result, 'dcc-query');
  tt.equal(query.ok, false);
  tt.match(query.detail, /no answer within 1 s/);
  tt.equal(result.brand, null);
  const pid = Number((await readFile(path.join(home, 'stub-dccproc.pid'), 'utf8')).trim());
  tt.ok(pid > 0, 'the stub recorded its pid');
  tt.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the hanging dccproc no longer runs');
});

t.test('a dccproc that cannot be started fails the version check and sends no query', { skip }, async (tt) => {
  const { ctx, runner, location, home } = await rig(tt, 'answers KerioTestBrand', { dccproc: '/nonexistent/kerio-dcc-test/dccproc' });
  const result = await dccSelfTest(ctx, location, 10);
  const version = check(result, 'dccproc-version');
  tt.equal(version.ok, false);
  tt.match(version.detail, /\/nonexistent\/kerio-dcc-test\/dccproc/);
  tt.equal(result.version, null);
  tt.equal(result.brand, null);
  tt.same(runner.records.map((r) => r.args), [['-V']], 'only -V was tried');
  tt.notOk(existsSync(path.join(home, 'stub-dccproc.pid')));
});

t.test('without a way to run commands (an image without --simulate) the self-test is skipped, not failed', { skip }, async (tt) => {
  const { ctx, runner, location } = await rig(tt, 'answers KerioTestBrand', { live: false });
  const result = await dccSelfTest(ctx, location, 10);
  tt.same(result.checks.map((c) => c.ok), [null]);
  tt.match(result.checks[0]!.detail, /--simulate/);
  tt.equal(runner.records.length, 0, 'nothing ran');
});
