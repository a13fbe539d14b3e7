// doctor's live DCC self-test against the real DCC 1.3.158: the real Linux dccproc (built from the
// unchanged upstream source by test/helpers/realDcc.ts), run by the LiveRunner, asking a private
// dccd on 127.0.0.1 whose map lists nothing else. Argument passing, output capture and the
// timeout kill are the real ones; so is every line dccproc prints.
import { chmod, copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import t, { type Test } from 'tap';
import { loadAnswers } from '../src/answers/load.js';
import { newReport } from '../src/model/report.js';
import { concludeChecks } from '../src/commands/status.js';
import type { Location } from '../src/detect/locate.js';
import type { RunContext } from '../src/model/context.js';
import { dccSelfTest } from '../src/status/doctor.js';
import { LiveRunner } from '../src/system/liveRunner.js';
import { RecordingRunner, type CommandRequest, type CommandResult, type CommandRunner } from '../src/system/runner.js';
import { Target } from '../src/target/target.js';
import { readTemplate } from '../src/templates.js';
import { tempDir } from './helpers/cli.js';
import { clientHome, mapServers, silentUdpPort, startDccServer, SERVER_ID, freeUdpPort } from './helpers/dccServer.js';
import { linuxDcc, linuxDccMissing, type LinuxDcc } from './helpers/realDcc.js';

const skip = linuxDccMissing();
const dcc: LinuxDcc | null = skip ? null : await linuxDcc();
if (dcc && dcc.builtMs) t.comment(`built the real Linux DCC in ${(dcc.builtMs / 1000).toFixed(1)} s (cached for later runs)`);

const defaults = await loadAnswers(null);
type T = Parameters<typeof tempDir>[0];

interface Rig {
  ctx: RunContext;
  runner: RecordingRunner;
  location: Location;
  home: string;
}

/** doctor's view of a server whose DCC home is `home` and whose dccproc is the real one (or `dccproc`). */
function rig(home: string, options: { dccproc?: string; live?: boolean; runner?: CommandRunner } = {}): Rig {
  const runner = new RecordingRunner(options.runner ?? new LiveRunner(), false);
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
    dccproc: options.dccproc ?? dcc!.dccproc,
    map: path.join(home, 'map'),
  };
  return { ctx, runner, location, home };
}

/** A client home listing `port` on 127.0.0.1 only. */
async function home(tt: T, port: number): Promise<string> {
  return clientHome(dcc!, path.join(await tempDir(tt, 'kerio-dcc-selftest-'), 'dcc'), port);
}

function check(result: Awaited<ReturnType<typeof dccSelfTest>>, id: string) {
  const found = result.checks.find((c) => c.id === id);
  if (!found) throw new Error(`no check "${id}" in ${JSON.stringify(result.checks)}`);
  return found;
}

/** The exit code doctor ends with for these checks (0, or 6 when one fails). */
function exitCodeOf(rigged: Rig, result: Awaited<ReturnType<typeof dccSelfTest>>): number {
  try {
    concludeChecks(rigged.ctx, newReport('doctor'), result.checks, 'test');
    return 0;
  } catch (err) {
    return (err as { exitCode: number }).exitCode;
  }
}

function queryArgs(runner: RecordingRunner): string[] {
  const queries = runner.records.filter((r) => r.args.includes('-Q'));
  if (queries.length !== 1) throw new Error(`expected one query, recorded ${JSON.stringify(runner.records)}`);
  return queries[0]!.args;
}

/** The UDP sentence doctor gives when no DCC server answers. */
function saysUdpIsBlockedOrDown(tt: Test, detail: string) {
  tt.match(detail, /UDP port 6277/, 'names UDP 6277');
  tt.match(detail, /Windows Firewall rules kerio-dcc manages/, 'points at the firewall rules kerio-dcc manages');
  tt.match(detail, /firewall between this server and the Internet/, 'and at any firewall on the way');
  tt.match(detail, /DCC servers are down/, 'or the servers being down');
}

t.test('the client map lists the private server on 127.0.0.1 only, never the public DCC servers', { skip }, async (tt) => {
  const port = await freeUdpPort();
  const { entries, info } = await mapServers(dcc!, await home(tt, port));
  tt.same(entries, [`127.0.0.1,${port}`], `cdcc info lists one server, on loopback:\n${info}`);
  tt.notMatch(info, /dcc-servers\.net/, 'no public server name');
});

t.test('a DCC server that answers: version (from stderr), brand, server-ID and counts; exit 0', { skip }, async (tt) => {
  const server = await startDccServer(tt, dcc!, { brand: 'KerioTestBrand' });
  const rigged = rig(await home(tt, server.port));
  const result = await dccSelfTest(rigged.ctx, rigged.location, 20);
  tt.equal(result.version, '1.3.158', 'real dccproc prints its version on stderr');
  tt.match(check(result, 'dccproc-version').detail, /DCC 1\.3\.158/);
  tt.equal(result.brand, 'KerioTestBrand');
  tt.equal(result.serverId, SERVER_ID);
  const query = check(result, 'dcc-query');
  tt.equal(query.ok, true, query.detail);
  tt.match(query.detail, /server KerioTestBrand \(server-ID 1000\) answered: Body=0 Fuz1=0 Fuz2=0/);
  tt.equal(exitCodeOf(rigged, result), 0);
  tt.same(rigged.runner.records[0]?.args, ['-V'], 'the version is asked first');
  const args = queryArgs(rigged.runner);
  tt.equal(args[args.indexOf('-h') + 1], rigged.home, 'dccproc is pointed at the DCC home');
  tt.equal(args[args.indexOf('-x') + 1], '0');
  for (const record of rigged.runner.records) {
    tt.notOk(
      record.args.some((a) => a.startsWith('-t')),
      `no -t in ${record.args.join(' ')}`,
    );
    tt.equal(record.mutates, false);
  }
  const message = args[args.indexOf('-i') + 1]!;
  tt.ok(path.isAbsolute(message), 'the message is passed by absolute path');
  tt.notOk(existsSync(message), 'the temporary message is gone after the test');
});

t.test('doctor never reports to DCC: the server counts no report from it, and one from a check without -Q', { skip }, async (tt) => {
  const server = await startDccServer(tt, dcc!);
  const rigged = rig(await home(tt, server.port));
  const before = await server.reports();
  for (let i = 0; i < 2; i++) tt.equal(check(await dccSelfTest(rigged.ctx, rigged.location, 20), 'dcc-query').ok, true, 'the server answered doctor');
  tt.equal(await server.reports(), before, 'two doctor runs added no report');
  // The same message checked the way a mail filter does (no -Q): the server counts it. So the
  // count above could have moved, and did not.
  const dir = await tempDir(tt);
  const message = path.join(dir, 'message.eml');
  await writeFile(message, readTemplate('doctor-message.eml'));
  const checked = await execa(dcc!.dccproc, ['-h', rigged.home, '-C', '-x', '0', '-i', message], { reject: false });
  tt.match(checked.stdout, /^X-DCC-KerioDccTest-Metrics: /m, 'the check was answered');
  // At least one: a busy machine can make dccproc send its report again, and dccd counts both.
  const after = await server.reports();
  tt.ok(after > before, `a check without -Q is counted as a report (${before} -> ${after})`);
});

t.test('a DCC server that is down (port refused): exit 6 and the UDP 6277 sentence', { skip }, async (tt) => {
  const server = await startDccServer(tt, dcc!);
  const rigged = rig(await home(tt, server.port));
  await server.stop();
  const result = await dccSelfTest(rigged.ctx, rigged.location, 20);
  tt.equal(check(result, 'dccproc-version').ok, true, 'dccproc itself runs');
  const query = check(result, 'dcc-query');
  tt.equal(query.ok, false, 'an empty-brand header with server-ID 0 is no answer, though dccproc exits 0');
  tt.match(query.detail, /no DCC server answered \(dccproc says "no working DCC server at 127\.0\.0\.1,\d+"\)/);
  saysUdpIsBlockedOrDown(tt, query.detail);
  tt.equal(result.brand, null);
  tt.equal(exitCodeOf(rigged, result), 6);
});

t.test('a DCC server that never answers (UDP dropped): exit 6 and the UDP 6277 sentence', { skip }, async (tt) => {
  const rigged = rig(await home(tt, await silentUdpPort(tt)));
  const started = Date.now();
  const result = await dccSelfTest(rigged.ctx, rigged.location, 20);
  tt.comment(`dccproc gave up after ${Date.now() - started} ms`);
  const query = check(result, 'dcc-query');
  tt.equal(query.ok, false);
  tt.match(query.detail, /no DCC server answered \(dccproc says "no working DCC server at 127\.0\.0\.1,\d+"\)/);
  saysUdpIsBlockedOrDown(tt, query.detail);
  tt.equal(exitCodeOf(rigged, result), 6);
});

t.test('a dccproc still waiting for a silent server when the doctor timeout ends is killed and reported', { skip }, async (tt) => {
  const rigged = rig(await home(tt, await silentUdpPort(tt)));
  const started = Date.now();
  const result = await dccSelfTest(rigged.ctx, rigged.location, 1);
  const elapsed = Date.now() - started;
  tt.ok(elapsed >= 900 && elapsed < 3500, `the 1 s timeout ended it, not dccproc's own wait of about 4 s (${elapsed} ms)`);
  const query = check(result, 'dcc-query');
  tt.equal(query.ok, false);
  tt.match(query.detail, /got no answer within 1 s/);
  saysUdpIsBlockedOrDown(tt, query.detail);
  const left = await execa('pgrep', ['-f', `${dcc!.dccproc} -h ${rigged.home}`], { reject: false });
  tt.equal(left.stdout.trim(), '', 'no dccproc is left running');
});

t.test('the back-off after a failure is explained, with how to ask at once; the advice works', { skip }, async (tt) => {
  const port = await freeUdpPort();
  const rigged = rig(await home(tt, port));
  const first = await dccSelfTest(rigged.ctx, rigged.location, 20);
  tt.match(check(first, 'dcc-query').detail, /no working DCC server at 127\.0\.0\.1/, 'the first attempt fails');
  await startDccServer(tt, dcc!, { port });
  const second = await dccSelfTest(rigged.ctx, rigged.location, 20);
  const query = check(second, 'dcc-query');
  tt.equal(query.ok, false, 'the server is up now, but dccproc does not ask yet');
  tt.match(query.detail, /did not ask the DCC servers this time/);
  tt.match(query.detail, /"continue not asking DCC \d+ seconds after 1 failures"/, "DCC's own words");
  tt.match(query.detail, /Run kerio-dcc doctor again after \d+ s/);
  tt.match(query.detail, new RegExp(`cdcc\\.exe -h "${rigged.home}" RTT`), 'how to ask at once');
  tt.match(query.detail, /UDP port 6277/, 'and what to check if it fails again');
  tt.equal(exitCodeOf(rigged, second), 6);
  await execa(dcc!.cdcc, ['-h', rigged.home, 'RTT']);
  const third = await dccSelfTest(rigged.ctx, rigged.location, 20);
  tt.equal(check(third, 'dcc-query').ok, true, 'after cdcc RTT the server is asked and answers');
});

/** Runs programs as another user (nobody), so a root test run can meet a map it may not read. */
class OtherUserRunner implements CommandRunner {
  readonly simulated = false;
  async run(request: CommandRequest): Promise<CommandResult> {
    const r = await execa(request.program, request.args, { reject: false, uid: 65534, gid: 65534, timeout: request.timeoutMs });
    return { exitCode: r.exitCode ?? 1, stdout: String(r.stdout), stderr: String(r.stderr), timedOut: Boolean(r.timedOut) };
  }
}

t.test('a map dccproc may not read: its own message and the fix, though dccproc exits 0', { skip }, async (tt) => {
  const server = await startDccServer(tt, dcc!);
  const dir = await tempDir(tt);
  await chmod(dir, 0o755);
  const dccHome = await clientHome(dcc!, path.join(dir, 'dcc'), server.port);
  await chmod(dccHome, 0o755);
  let options: Parameters<typeof rig>[1] = {};
  if (process.getuid?.() === 0) {
    // Root reads any file: run dccproc (a copy others may run) as nobody; the map stays root's, mode 0600.
    const dccproc = path.join(dir, 'dccproc');
    await copyFile(dcc!.dccproc, dccproc);
    await chmod(dccproc, 0o755);
    options = { dccproc, runner: new OtherUserRunner() };
  }
  await chmod(path.join(dccHome, 'map'), process.getuid?.() === 0 ? 0o600 : 0o000);
  const rigged = rig(dccHome, options);
  const result = await dccSelfTest(rigged.ctx, rigged.location, 20);
  tt.equal(check(result, 'dccproc-version').ok, true);
  const query = check(result, 'dcc-query');
  tt.equal(query.ok, false);
  tt.match(query.detail, new RegExp(`dccproc cannot read ${dccHome}/map \\(Permission denied\\)`));
  tt.match(query.detail, /readable by the account that runs dccproc/);
  tt.notMatch(query.detail, /UDP/, 'not mistaken for a blocked port');
});

t.test('a missing map, and a missing DCC home: each named, with the fix', { skip }, async (tt) => {
  const dir = await tempDir(tt);
  const dccHome = path.join(dir, 'dcc');
  await mkdir(dccHome);
  const noMap = await dccSelfTest(rig(dccHome).ctx, rig(dccHome).location, 20);
  const detail = check(noMap, 'dcc-query').detail;
  tt.match(detail, new RegExp(`dccproc found no ${dccHome}/map \\(No such file or directory\\)`));
  tt.match(detail, /copy DCC's map into/);
  await rm(dccHome, { recursive: true });
  const noHome = await dccSelfTest(rig(dccHome).ctx, rig(dccHome).location, 20);
  tt.match(check(noHome, 'dcc-query').detail, new RegExp(`dccproc found no ${dccHome} \\(No such file or directory\\)`));
});

t.test('dccproc missing, not runnable, or not DCC: each its own message, and no query is sent', { skip }, async (tt) => {
  const dir = await tempDir(tt);
  const notExecutable = path.join(dir, 'dccproc-not-executable');
  await writeFile(notExecutable, 'MZ not a program');
  const script = path.join(dir, 'dccproc-some-script');
  await writeFile(script, '#!/bin/sh\necho hello\n');
  await chmod(script, 0o755);
  const cases: [string, string, RegExp][] = [
    ['missing', path.join(dir, 'nonexistent', 'dccproc'), /does not exist: install DCC's dccproc\.exe there, or name where it is with \[dcc\] dccproc/],
    ['not executable', notExecutable, /is not a program that can be run \(.*EACCES.*\): replace it with DCC's dccproc\.exe/],
    ['a directory', dir, /is not a program that can be run/],
    ['not DCC', script, /-V printed no DCC version \(exit 0\): "hello"; is it DCC's dccproc\?/],
  ];
  for (const [what, dccproc, message] of cases) {
    const rigged = rig(dir, { dccproc });
    const result = await dccSelfTest(rigged.ctx, rigged.location, 10);
    const version = check(result, 'dccproc-version');
    tt.equal(version.ok, false, what);
    tt.match(version.detail, dccproc, `${what}: names the file`);
    tt.match(version.detail, message, what);
    tt.equal(result.version, null);
    tt.same(
      rigged.runner.records.map((r) => r.args),
      [['-V']],
      `${what}: only -V was tried`,
    );
  }
});

t.test('without a way to run commands (an image without --simulate) the self-test is skipped, not failed', { skip }, async (tt) => {
  const rigged = rig(await tempDir(tt), { live: false });
  const result = await dccSelfTest(rigged.ctx, rigged.location, 10);
  tt.same(
    result.checks.map((c) => c.ok),
    [null],
  );
  tt.match(result.checks[0]!.detail, /--simulate/);
  tt.equal(rigged.runner.records.length, 0, 'nothing ran');
});
