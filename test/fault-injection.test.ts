import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import type { Image } from '../src/demo/image.js';
import { LockedFileError, atomicWrite, retryWhileLocked } from '../src/fs/atomicWrite.js';
import { loadSimState, plainServerState, SIMULATED_STATE_PATH, type SimFirewallRule } from '../src/system/simulated.js';
import { Target } from '../src/target/target.js';
import { hashTree, inImage, makeImage, runCli, tempDir, type CliResult, kerioOnImage } from './helpers/cli.js';

// A subtest's `t`, as the last overload of t.test (the callback alone) gives it.
type Tap = Parameters<Parameters<typeof t.test>[0]>[0];
type Mode = 'throw' | 'kill';

// About 400 CLI runs: a few minutes on a busy 2-core machine, beyond the 180 s default for a test file.
t.setTimeout(15 * 60_000);
// Most of a CLI run is process start-up and fsync: three at a time keeps a 2-core machine busy without thrashing.
const PARALLEL_POINTS = 3;
const MODES: Mode[] = ['throw', 'kill'];
const BACKUPS = 'C:\\ProgramData\\kerio-dcc\\backups';
const LOCK = `${BACKUPS}\\kerio-dcc.lock`;
// The demo image is 32-bit Kerio on 64-bit Windows: its profile folder is under SysWOW64.
const PROFILE_PARENT = 'C:\\Windows\\SysWOW64\\config\\systemprofile';
const RUNNING = 4;
const KILLED = -1;

// The simulated service settles at the first query: a run that waits for it longer is stuck, so it fails in seconds, not minutes.
const SHORT_WAIT = path.join(os.tmpdir(), `kerio-dcc-fault-${process.pid}.ini`);
await writeFile(SHORT_WAIT, '[service]\ntimeout_seconds = 4\n');
t.teardown(() => rm(SHORT_WAIT, { force: true }));

function kerio(img: Image, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return kerioOnImage(img, [...args, '--answers', SHORT_WAIT], env);
}

/** Everything a run may change, in a form two images can be compared by. */
interface ServerState {
  rules: Record<string, string>;
  profile: Record<string, string>;
  /** Sorted by name and direction: Windows gives firewall rules no order, and a restore may re-add them in another. */
  firewall: SimFirewallRule[];
  service: number | null;
}

async function serverState(img: Image): Promise<ServerState> {
  const sim =
    (await loadSimState(inImage(img.root, SIMULATED_STATE_PATH))) ?? (await plainServerState(new Target({ root: img.root }), 'KerioMailServer'));
  return {
    rules: await hashTree(inImage(img.root, img.rulesDir)),
    profile: await hashTree(inImage(img.root, PROFILE_PARENT)),
    firewall: [...sim.firewall].sort((a, b) => `${a.name}\0${a.direction}`.localeCompare(`${b.name}\0${b.direction}`)),
    service: sim.services['KerioMailServer']?.state ?? null,
  };
}

interface Point {
  n: number;
  label: string;
}

/** Runs a command once with KERIO_DCC_FAULT=count: every point it reaches, in order. */
async function countPoints(t: Tap, img: Image, args: string[]): Promise<Point[]> {
  const log = path.join(await tempDir(t), 'points.log');
  const result = await kerio(img, args, { KERIO_DCC_FAULT: 'count', KERIO_DCC_FAULT_LOG: log });
  if (result.code !== 0) throw new Error(`the counting run of ${args.join(' ')} failed (${result.code}): ${result.json?.error?.message ?? result.stderr}`);
  const text = await readFile(log, 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [n, label] = line.split('\t');
      return { n: Number(n), label: label!.split(img.root).join('<root>') };
    });
}

/** The point that writes the backup's manifest: from the next point on, the run counts as unfinished until it ends. */
function manifestPoint(points: Point[]): number {
  const p = points.find((x) => /^rename .*[\\/]backups[\\/][^\\/]+[\\/]manifest\.json$/.test(x.label));
  if (!p) throw new Error('no manifest write among the fault points');
  return p.n;
}

/** The last point: marking the backup complete. A fault there comes after every change is made. */
function finalPoint(points: Point[]): number {
  const last = points[points.length - 1]!;
  if (!/^rename .*[\\/]backups[\\/][^\\/]+[\\/]manifest\.json$/.test(last.label)) throw new Error(`the last fault point is not the final manifest write: ${last.label}`);
  return last.n;
}

/**
 * Backups of runs that did not finish: the manifest still says 'applying' and the journal
 * lacks a step's finish. This is what status and the next run take for an interrupted run.
 */
async function unfinishedBackups(img: Image): Promise<string[]> {
  const base = inImage(img.root, BACKUPS);
  const found: string[] = [];
  for (const id of await readdir(base).catch(() => [] as string[])) {
    const manifest = await readFile(path.join(base, id, 'manifest.json'), 'utf8').catch(() => null);
    if (manifest === null || JSON.parse(manifest).status !== 'applying') continue;
    const journal = await readFile(path.join(base, id, 'journal.jsonl'), 'utf8').catch(() => '');
    const finished = new Set(journal.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.event === 'finish').map((e) => e.step));
    if (!(JSON.parse(manifest).changes as string[]).every((step) => finished.has(step))) found.push(id);
  }
  return found;
}

function unfinishedCheck(status: CliResult): { ok: boolean; detail: string } | undefined {
  return status.json?.data?.checks?.find((c: { id: string }) => c.id === 'unfinished');
}

async function copyImage(t: Tap, from: Image): Promise<Image> {
  const root = await tempDir(t, 'kerio-dcc-fault-');
  await cp(from.root, root, { recursive: true });
  return { ...from, root };
}

/** Runs `body` for every item, at most `limit` at a time, and waits for all. */
async function inParallel<T>(items: T[], limit: number, body: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await body(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * After an injected error the server must be in one of two states, and the exit code must
 * say which: `restored` (exit `restoredCodes`) or `completed` (exit 0).
 */
async function assertEndedConsistently(
  t: Tap,
  img: Image,
  point: Point,
  faulted: CliResult,
  expect: { restored: ServerState; completed: ServerState; restoredCodes: number[] },
): Promise<void> {
  const state = await serverState(img);
  const which = isDeepStrictEqual(state, expect.restored) ? 'restored' : isDeepStrictEqual(state, expect.completed) ? 'completed' : 'neither';
  const context = { exit: faulted.code, error: faulted.json?.error ?? null };
  if (which === 'neither') t.same(state, expect.restored, 'the server is as it was before this run (it is neither that nor what the run meant to make)');
  else t.pass(`the server is ${which === 'restored' ? 'as it was before this run' : 'what the run meant to make'}`);
  const codes = which === 'completed' ? [0] : expect.restoredCodes;
  t.ok(codes.includes(faulted.code), `the exit code says so: ${codes.join(' or ')} for a server ${which === 'completed' ? 'the run finished' : 'left as before'}, got ${faulted.code}`, context);
  if (faulted.code !== 0) t.match(faulted.json?.error?.message, new RegExp(`injected fault at point ${point.n}\\b`), 'the message gives the cause');
  t.notOk(existsSync(inImage(img.root, LOCK)), 'the lock was released');
  t.same(await unfinishedBackups(img), [], 'no backup is left marked as applying: the next run will not take this one for a crash');
}

let pointsCovered = 0;
const pointsPer: Record<'install' | 'rollback', number> = { install: 0, rollback: 0 };
const started = Date.now();

t.test('an install that fails or is killed at any filesystem operation or command ends with the server as before or fully provisioned', async (t) => {
  const counting = await makeImage(t);
  const points = await countPoints(t, counting, ['install', '--yes']);
  const backedUp = manifestPoint(points);
  const finished = finalPoint(points);
  const reference = await makeImage(t);
  const before = await serverState(reference);
  const clean = await kerio(reference, ['install', '--yes']);
  t.equal(clean.code, 0, 'a clean install runs through', { error: clean.json?.error ?? null });
  const provisioned = await serverState(reference);
  t.same(before.firewall, [], 'before: no firewall rule');
  t.same(
    provisioned.firewall.map((r) => r.name),
    ['Kerio DCC (UDP 6277 in)', 'Kerio DCC (UDP 6277 out)'],
    'after: exactly the two DCC rules',
  );
  t.notSame(provisioned.rules, before.rules, 'the provisioned rules folder differs from the original (else the comparisons prove nothing)');
  pointsPer.install = points.length;
  t.comment(`install: ${points.length} fault points; the backup manifest is written at point ${backedUp}`);

  const cases = MODES.flatMap((mode) => points.map((point) => ({ mode, point })));
  t.jobs = PARALLEL_POINTS;
  await inParallel(cases, PARALLEL_POINTS, ({ mode, point }) =>
    t.test(`install, ${mode} at point ${point.n} (${point.label})`, async (t) => {
      const img = await makeImage(t, {}, 'kerio-dcc-fault-');
      const faulted = await kerio(img, ['install', '--yes'], { KERIO_DCC_FAULT: `${point.n}:${mode}` });
      if (mode === 'throw') await afterInstallThrow(t, img, point, backedUp, faulted, before, provisioned);
      else await afterInstallKill(t, img, point, backedUp, finished, faulted, before, provisioned);
      pointsCovered++;
    }),
  );
});

async function afterInstallThrow(t: Tap, img: Image, point: Point, backedUp: number, faulted: CliResult, before: ServerState, provisioned: ServerState): Promise<void> {
  // The run itself must restore: exit 3 (or 1) before its backup, 4 after it; 0 only if it absorbed the fault and finished.
  await assertEndedConsistently(t, img, point, faulted, { restored: before, completed: provisioned, restoredCodes: point.n <= backedUp ? [1, 3] : [4] });
}

async function afterInstallKill(t: Tap, img: Image, point: Point, backedUp: number, finished: number, faulted: CliResult, before: ServerState, provisioned: ServerState): Promise<void> {
  t.equal(faulted.code, KILLED, 'the run was killed at that point', { stdout: faulted.stdout.slice(0, 400) });
  const status = await kerio(img, ['status']);
  t.ok([0, 6].includes(status.code), `status reports (exit ${status.code})`, { error: status.json?.error ?? null });
  // Between the manifest and the last step's journal entry the run is unfinished; killed while marking it complete, it had finished.
  const unfinished = point.n > backedUp && point.n < finished;
  t.equal(unfinishedCheck(status)?.ok, !unfinished, unfinished ? 'status reports the run as unfinished' : 'nothing to restore: status reports no unfinished run', { detail: unfinishedCheck(status)?.detail });

  const recovery = await kerio(img, ['install', '--yes']);
  t.equal(recovery.code, 0, 'install --yes after the kill runs through', { error: recovery.json?.error ?? null });
  t.match(recovery.stderr, /taking over a lock left by kerio-dcc install \(pid \d+/, "it takes over the killed run's lock");
  const restoredFirst = (recovery.json?.warnings ?? []).some((w: string) => /restored from its backup before this run/.test(w));
  t.equal(restoredFirst, unfinished, unfinished ? 'it restored the interrupted run from its backup first' : 'there was no interrupted run to restore');
  t.same(await serverState(img), provisioned, 'the server is fully provisioned: rules folder, map, both firewall rules, Kerio running');

  const rollback = await kerio(img, ['rollback', '--yes']);
  t.equal(rollback.code, 0, 'rollback --yes runs through', { error: rollback.json?.error ?? null });
  t.same(await serverState(img), before, 'rollback gives back the original server');
  t.notOk(existsSync(inImage(img.root, LOCK)), 'no lock is left');
}

t.test('a rollback that fails or is killed at any filesystem operation or command ends with the server provisioned, or (after recovery) as before', async (t) => {
  const original = await makeImage(t);
  const before = await serverState(original);
  const template = await copyImage(t, original);
  const install = await kerio(template, ['install', '--yes']);
  t.equal(install.code, 0, 'the install to roll back runs through', { error: install.json?.error ?? null });
  const provisioned = await serverState(template);
  const points = await countPoints(t, await copyImage(t, template), ['rollback', '--yes']);
  const backedUp = manifestPoint(points);
  const finished = finalPoint(points);
  pointsPer.rollback = points.length;
  t.comment(`rollback: ${points.length} fault points; its backup manifest is written at point ${backedUp}`);

  const cases = MODES.flatMap((mode) => points.map((point) => ({ mode, point })));
  t.jobs = PARALLEL_POINTS;
  await inParallel(cases, PARALLEL_POINTS, ({ mode, point }) =>
    t.test(`rollback, ${mode} at point ${point.n} (${point.label})`, async (t) => {
      const img = await copyImage(t, template);
      const faulted = await kerio(img, ['rollback', '--yes'], { KERIO_DCC_FAULT: `${point.n}:${mode}` });
      if (mode === 'throw') await afterRollbackThrow(t, img, point, backedUp, faulted, before, provisioned);
      else await afterRollbackKill(t, img, point, backedUp, finished, faulted, before);
      pointsCovered++;
    }),
  );
});

async function afterRollbackThrow(t: Tap, img: Image, point: Point, backedUp: number, faulted: CliResult, before: ServerState, provisioned: ServerState): Promise<void> {
  // A failed rollback puts back what it had undone: the server stays provisioned.
  await assertEndedConsistently(t, img, point, faulted, { restored: provisioned, completed: before, restoredCodes: point.n <= backedUp ? [1, 3] : [4] });
}

async function afterRollbackKill(t: Tap, img: Image, point: Point, backedUp: number, finished: number, faulted: CliResult, before: ServerState): Promise<void> {
  t.equal(faulted.code, KILLED, 'the run was killed at that point', { stdout: faulted.stdout.slice(0, 400) });
  const status = await kerio(img, ['status']);
  t.ok([0, 6].includes(status.code), `status reports (exit ${status.code})`, { error: status.json?.error ?? null });
  const unfinished = point.n > backedUp && point.n < finished;
  t.equal(unfinishedCheck(status)?.ok, !unfinished, unfinished ? 'status reports the rollback as unfinished' : 'nothing to restore: status reports no unfinished run', { detail: unfinishedCheck(status)?.detail });

  // The administrator wanted the rollback: running it again first undoes the killed one, then rolls back the install.
  const again = await kerio(img, ['rollback', '--yes']);
  t.equal(again.code, 0, 'rollback --yes after the kill runs through', { error: again.json?.error ?? null });
  t.match(again.stderr, /taking over a lock left by kerio-dcc rollback \(pid \d+/, "it takes over the killed run's lock");
  const restoredFirst = (again.json?.warnings ?? []).some((w: string) => /restored from its backup before this run/.test(w));
  t.equal(restoredFirst, unfinished, unfinished ? 'it restored the interrupted rollback from its backup first' : 'there was no interrupted run to restore');
  t.same(await serverState(img), before, 'the server is as before the install: rules folder, no map, no DCC firewall rule, Kerio running');
  t.notOk(existsSync(inImage(img.root, LOCK)), 'no lock is left');
}

t.test('injection points covered', async (t) => {
  const planned = (pointsPer.install + pointsPer.rollback) * MODES.length;
  t.ok(planned > 0, 'an install and a rollback have fault points');
  t.equal(pointsCovered, planned, 'every planned injection ran to its checks');
  t.comment(
    `fault injection: ${pointsPer.install} install points + ${pointsPer.rollback} rollback points, each with ${MODES.join(' and ')}: ` +
      `${pointsCovered} of ${planned} injected runs checked, in ${Math.round((Date.now() - started) / 1000)} s`,
  );
});

// ---------------------------------------------------------------------------- locked files

const fakeClock = () => {
  const sleeps: number[] = [];
  return { sleeps, sleep: async (ms: number) => void sleeps.push(ms) };
};

function failing(code: string): Error {
  return Object.assign(new Error(`${code}: resource busy or locked`), { code });
}

t.test('a file locked for a while (EBUSY, then free) is retried with growing waits until the operation succeeds', async (t) => {
  const clock = fakeClock();
  let calls = 0;
  const result = await retryWhileLocked(
    'C:\\rules\\local.cf',
    async () => {
      calls++;
      if (calls <= 3) throw failing('EBUSY');
      return 'renamed';
    },
    { sleep: clock.sleep },
  );
  t.equal(result, 'renamed');
  t.equal(calls, 4, 'three failures, then the successful try');
  t.same(clock.sleeps, [50, 100, 200], 'each wait is longer than the last');
});

t.test('a file that stays locked fails after the time budget with LockedFileError naming the file, after a bounded number of tries', async (t) => {
  const clock = fakeClock();
  let calls = 0;
  const attempt = retryWhileLocked(
    '/image/rules/local.cf',
    async () => {
      calls++;
      throw failing('EPERM');
    },
    { sleep: clock.sleep, budgetMs: 5000 },
  );
  const err = await attempt.then(
    () => null,
    (e: unknown) => e,
  );
  t.type(err, LockedFileError);
  t.match((err as Error).message, /\/image\/rules\/local\.cf stayed locked \(EPERM\)/, 'the message names the file and the code');
  const waited = clock.sleeps.reduce((a, b) => a + b, 0);
  t.ok(waited >= 5000 && waited < 5000 + 1000, `it waited the budget, not more than one extra wait (${waited} ms)`);
  t.ok(calls < 20, `it gave up after ${calls} tries`);
  t.ok(clock.sleeps.every((ms) => ms <= 1000), 'no single wait exceeds 1 s');
});

t.test('an error that is not a lock (ENOENT) is not retried', async (t) => {
  const clock = fakeClock();
  let calls = 0;
  await t.rejects(
    retryWhileLocked(
      'x',
      async () => {
        calls++;
        throw failing('ENOENT');
      },
      { sleep: clock.sleep },
    ),
    { code: 'ENOENT' },
  );
  t.equal(calls, 1);
  t.same(clock.sleeps, []);
});

/** atomicWrite with a rename that fails `failures` times with `code` before doing the real rename. */
async function atomicWriteWithLockedRename(t: Tap, failures: number, code: string) {
  const real = await import('node:fs/promises');
  const renames: string[] = [];
  let failed = 0;
  const mod = await t.mockImport<typeof import('../src/fs/atomicWrite.js')>('../src/fs/atomicWrite.js', {
    'node:fs/promises': {
      ...real,
      rename: async (from: string, to: string) => {
        renames.push(to);
        if (failed < failures) {
          failed++;
          throw failing(code);
        }
        return real.rename(from, to);
      },
    },
  });
  return { atomicWrite: mod.atomicWrite, renames };
}

t.test('atomicWrite waits out a target locked by another program and then replaces it', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'local.cf');
  await writeFile(file, 'old\r\n');
  const { atomicWrite: write, renames } = await atomicWriteWithLockedRename(t, 2, 'EBUSY');
  const clock = fakeClock();
  await write(file, Buffer.from('new\r\n'), { sleep: clock.sleep });
  t.equal(await readFile(file, 'latin1'), 'new\r\n', 'the new content is in place');
  t.equal(renames.length, 3, 'two locked tries, then the rename');
  t.same(await readdir(dir), ['local.cf'], 'no temp file is left');
});

t.test('atomicWrite on a target that stays locked fails naming the file, and leaves the old file and no temp file', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'local.cf');
  await writeFile(file, 'old\r\n');
  const { atomicWrite: write } = await atomicWriteWithLockedRename(t, Number.MAX_SAFE_INTEGER, 'EACCES');
  const clock = fakeClock();
  await t.rejects(write(file, Buffer.from('new\r\n'), { sleep: clock.sleep, budgetMs: 2000 }), { name: 'LockedFileError', hostPath: file, code: 'EACCES' });
  t.equal(await readFile(file, 'latin1'), 'old\r\n', 'the old file is untouched (never deleted first)');
  t.same(await readdir(dir), ['local.cf'], 'the temp file was removed');
});

t.test('atomicWrite replaces a file without a trace of its temp file (real rename)', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'v310.pre');
  await writeFile(file, 'old');
  await atomicWrite(file, Buffer.from('new'));
  t.equal(await readFile(file, 'latin1'), 'new');
  t.same(await readdir(dir), ['v310.pre']);
});

// ---------------------------------------------------------------------------- one run at a time

async function writeLock(img: Image, holder: { pid: number; host: string; command: string }): Promise<string> {
  const file = inImage(img.root, LOCK);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify({ ...holder, startedAt: '2026-01-02T03:04:05.000Z' }));
  return file;
}

function deadPid(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('true', [], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', () => resolve(child.pid!));
  });
}

t.test('while another live run holds the lock, install exits 3 naming its pid and changes nothing', async (t) => {
  const img = await makeImage(t);
  const before = await serverState(img);
  const lock = await writeLock(img, { pid: process.pid, host: os.hostname(), command: 'uninstall' });
  const lockBytes = await readFile(lock);
  const install = await kerio(img, ['install', '--yes']);
  t.equal(install.code, 3, 'exit 3', { error: install.json?.error ?? null });
  t.match(install.json?.error?.message, new RegExp(`Another kerio-dcc run holds the lock: uninstall \\(pid ${process.pid} on .+, started 2026-01-02T03:04:05\\.000Z\\)`), 'the message names who holds it');
  t.same(await serverState(img), before, 'nothing was changed');
  t.same(await readFile(lock), lockBytes, "the other run's lock is left alone");
});

t.test('a lock left by a process that no longer runs is taken over with a warning, and the install runs', async (t) => {
  const img = await makeImage(t);
  const pid = await deadPid();
  const lock = await writeLock(img, { pid, host: os.hostname(), command: 'install' });
  const install = await kerio(img, ['install', '--yes']);
  t.equal(install.code, 0, 'install runs through', { error: install.json?.error ?? null });
  t.match(install.stderr, new RegExp(`warning: taking over a lock left by kerio-dcc install \\(pid ${pid}, started 2026-01-02T03:04:05\\.000Z\\), which is no longer running`));
  t.notOk(existsSync(lock), 'the lock is released at the end');
  t.equal((await serverState(img)).service, RUNNING);
});

t.test('a lock held on another host is not taken over, even when that pid does not run here', async (t) => {
  const img = await makeImage(t);
  const before = await serverState(img);
  await writeLock(img, { pid: await deadPid(), host: `${os.hostname()}-other`, command: 'install' });
  const install = await kerio(img, ['install', '--yes']);
  t.equal(install.code, 3, 'exit 3', { error: install.json?.error ?? null });
  t.match(install.json?.error?.message, /holds the lock/);
  t.same(await serverState(img), before, 'nothing was changed');
});
