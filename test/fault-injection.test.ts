import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import type { Image } from '../src/demo/image.js';
import { LockedFileError, atomicWrite, isLeftoverTemp, retryWhileLocked } from '../src/fs/atomicWrite.js';
import { loadSimState, plainServerState, saveSimState, SIMULATED_STATE_PATH, type SimFirewallRule } from '../src/system/simulated.js';
import { Target } from '../src/target/target.js';
import { hashTree, inImage, makeImage, simState, tempDir, type CliResult, kerioOnImage } from './helpers/cli.js';
import { faultPointsOf, type FaultPoint } from './helpers/faults.js';
import { withStateFolderSecured } from '../src/system/simulated/acl.js';
import { LOG_FOLDER } from '../src/log/runLog.js';
import { ANSWERS_COPY, LAST_RUN, TASK_FILE } from '../src/trust/watchFiles.js';

// A subtest's `t`, as the last overload of t.test (the callback alone) gives it.
type Tap = Parameters<Parameters<typeof t.test>[0]>[0];
type Mode = 'throw' | 'kill';
type Command = 'install' | 'uninstall' | 'rollback' | 'watch --run';
/** A scenario's command line words; the lock names the command's first word. */
const words = (c: Command): string[] => c.split(' ');

/*
 * What is injected where. Every fault point of a run is numbered (src/fault.ts): each file
 * operation and command, the lock's take and release, the backup folder's creation, each
 * temp file's create, write and fsync before its rename, and the pruning of old backups.
 * The simulated system's own state file is written through the same temp-file code; only its
 * rename is injected (as a command whose effect is made), not its temp file's points.
 *
 * Injecting both modes everywhere takes some 1,800 CLI runs (a kill costs three or four:
 * the killed run, status, the run again, a rollback), so by default:
 * - install on the demo image: a throw and a kill at every point, as before;
 * - rollback (demo, installed): a throw at every point, a kill at every 3rd;
 * - uninstall (demo, installed): a throw at every point, a kill at every 4th;
 * - install on three more layouts (the System32 profile of 64-bit Kerio; both profiles, when
 *   Kerio's bitness cannot be read; firewall rules already there, with old backups that
 *   `backup.keep = 1` prunes): both modes at every point touching what the layout changes,
 *   and at every 8th other point (a different 8th for each layout);
 * - double faults: a second throw at every point of the restore after the second firewall
 *   rule failed, and at every 2nd after Kerio failed to start (the same restore, plus the
 *   service); a kill at every 3rd point, and at every file and firewall change, of the
 *   recovery that the next run makes of a killed install.
 * No kill is injected at a temp file's create or fsync: a process killed there leaves the
 * disk as a kill at the point before, or at the rename, does.
 *
 * KERIO_DCC_FAULT_FULL=1 injects both modes at every point of every scenario (several times as long).
 */
const FULL = process.env['KERIO_DCC_FAULT_FULL'] === '1';
const LAYOUT_SAMPLE = 8;

// Some 800 CLI runs: minutes on a busy 2-core machine, far beyond the 180 s default for a test file.
t.setTimeout(30 * 60_000);
// Most of a CLI run is process start-up and fsync: three at a time keeps a 2-core machine busy without thrashing.
const PARALLEL_POINTS = 3;
const BACKUPS = 'C:\\ProgramData\\kerio-dcc\\backups';
const LOCK = `${BACKUPS}\\kerio-dcc.lock`;
// Both profile parents: which one a run writes depends on the layout, and the other must stay as it was.
const PROFILE_PARENTS = ['C:\\Windows\\System32\\config\\systemprofile', 'C:\\Windows\\SysWOW64\\config\\systemprofile'];
const RUNNING = 4;
const KILLED = -1;
const DCC_RULES = ['Kerio DCC (UDP 6277 in)', 'Kerio DCC (UDP 6277 out)'];

// The simulated service settles at the first query: a run that waits for it longer is stuck, so it fails in seconds, not minutes.
const SHORT_WAIT = path.join(os.tmpdir(), `kerio-dcc-fault-${process.pid}.ini`);
await writeFile(SHORT_WAIT, '[service]\ntimeout_seconds = 4\n');
// The same, keeping only the newest backup: the run prunes the older ones.
const KEEP_ONE = path.join(os.tmpdir(), `kerio-dcc-fault-keep-${process.pid}.ini`);
await writeFile(KEEP_ONE, '[service]\ntimeout_seconds = 4\n\n[backup]\nkeep = 1\n');
t.teardown(() => Promise.all([rm(SHORT_WAIT, { force: true }), rm(KEEP_ONE, { force: true })]));

function kerio(img: Image, args: string[], env: NodeJS.ProcessEnv = {}, answers = SHORT_WAIT): Promise<CliResult> {
  return kerioOnImage(img, [...args, '--answers', answers], env);
}

/** Everything a run may change, in a form two images can be compared by. */
interface ServerState {
  rules: Record<string, string>;
  /** The System32 and the SysWOW64 profile parents, whichever the layout uses. */
  profiles: Record<string, string>;
  /** Sorted by name and direction: Windows gives firewall rules no order, and a restore may re-add them in another. */
  firewall: SimFirewallRule[];
  service: number | null;
  /** Files a run must not leave behind: see strayFiles. */
  strays: string[];
}

const SIMULATION_STATE_NAME = path.win32.basename(SIMULATED_STATE_PATH);
const KEPT = [LOG_FOLDER, ANSWERS_COPY, TASK_FILE, LAST_RUN].map((p) => path.join(...p.slice(3).split('\\')));

/**
 * Files no run may leave: a temp file anywhere (but inside a backup folder), and anything in
 * ProgramData besides the backups, the run log, the watch task's files and the simulated
 * system's own state (the lock included).
 */
async function strayFiles(img: Image): Promise<string[]> {
  const strays: string[] = [];
  const backups = path.relative(img.root, inImage(img.root, BACKUPS));
  for (const entry of await readdir(img.root, { recursive: true, withFileTypes: true })) {
    if (entry.isDirectory()) continue;
    const rel = path.relative(img.root, path.join(entry.parentPath ?? entry.path, entry.name));
    const parts = rel.split(path.sep);
    // A backup's own files, and the simulated system's state and its temp files: not kerio-dcc's to clean.
    if (rel.startsWith(backups + path.sep) && parts.length > backups.split(path.sep).length + 1) continue;
    if (entry.name === SIMULATION_STATE_NAME || (isLeftoverTemp(entry.name) && entry.name.startsWith(`.${SIMULATION_STATE_NAME}.`))) continue;
    // The run log (a line per change) and the watch task's own files are what runs are meant to leave.
    if (KEPT.some((kept) => rel === kept || rel.startsWith(kept + path.sep))) continue;
    if (parts[0] === 'ProgramData' || isLeftoverTemp(entry.name)) strays.push(rel);
  }
  return strays.sort();
}

async function serverState(img: Image): Promise<ServerState> {
  const sim = (await loadSimState(inImage(img.root, SIMULATED_STATE_PATH))) ?? (await plainServerState(new Target({ root: img.root }), 'KerioMailServer'));
  const profiles: Record<string, string> = {};
  for (const parent of PROFILE_PARENTS) {
    for (const [rel, hash] of Object.entries(await hashTree(inImage(img.root, parent)))) profiles[`${parent}\\${rel}`] = hash;
  }
  return {
    rules: await hashTree(inImage(img.root, img.rulesDir)),
    profiles,
    firewall: [...sim.firewall].sort((a, b) => `${a.name}\0${a.direction}`.localeCompare(`${b.name}\0${b.direction}`)),
    service: sim.services['KerioMailServer']?.state ?? null,
    strays: await strayFiles(img),
  };
}

type Point = FaultPoint;

/** Runs a command with KERIO_DCC_FAULT (count, or faults) and KERIO_DCC_FAULT_LOG: its result, and every point it reached, in order. */
async function loggedRun(t: Tap, img: Image, args: string[], fault: string, answers = SHORT_WAIT): Promise<{ result: CliResult; points: Point[] }> {
  const log = path.join(await tempDir(t), 'points.log');
  const result = await kerio(img, args, { KERIO_DCC_FAULT: fault, KERIO_DCC_FAULT_LOG: log }, answers);
  return { result, points: faultPointsOf(await readFile(log, 'utf8').catch(() => ''), img.root) };
}

/** Runs a command once with KERIO_DCC_FAULT=count: every point it reaches, in order. A counting run that fails throws. */
async function countPoints(t: Tap, img: Image, args: string[], answers = SHORT_WAIT): Promise<Point[]> {
  const { result, points } = await loggedRun(t, img, args, 'count', answers);
  if (result.code !== 0) throw new Error(`the counting run of ${args.join(' ')} failed (${result.code}): ${result.json?.error?.message ?? result.stderr}`);
  return points;
}

const MANIFEST_RENAME = /^rename .*[\\/]backups[\\/]\d{8}T\d{6}Z(-\d+)?[\\/]manifest\.json$/;
/** The backup, built in <id>.partial, is renamed to <id>: before, a killed run leaves no backup, only a .partial folder. */
const BACKUP_IN_PLACE = /^backup in place .*[\\/]backups[\\/]\d{8}T\d{6}Z(-\d+)?$/;
const BACKUP_ID = /^\d{8}T\d{6}Z(-\d+)?$/;
const PARTIAL = /^\d{8}T\d{6}Z(-\d+)?\.partial$/;

/** The point that puts the complete backup in place: from the next point on, the run counts as unfinished until it ends. */
function manifestPoint(points: Point[]): number {
  const p = points.find((x) => BACKUP_IN_PLACE.test(x.label));
  if (!p) throw new Error('no backup put in place among the fault points');
  return p.n;
}

/**
 * The point after the journal's last step finish: from there on every step is journaled as
 * finished, so a run killed there (marking its backup complete, pruning, releasing the lock) did finish.
 */
function finishedPoint(points: Point[]): number {
  const last = points.filter((p) => /^journal \S+ finish$/.test(p.label)).pop();
  if (!last) throw new Error('no step finish among the fault points');
  if (!points.slice(points.indexOf(last)).some((p) => MANIFEST_RENAME.test(p.label))) throw new Error('the backup is not marked complete after the last step');
  return last.n + 1;
}

/** The simulated system saving its own state: its temp file's points fault the simulation's bookkeeping, not kerio-dcc. */
const SIMULATION_TEMP = /^(temp create|temp write|fsync) .*simulated-system\.json$/;
/** Kills that leave the disk as a kill at a neighbouring point does: before a temp file is made, and between its write and its rename. */
const SAME_AS_NEIGHBOUR_KILL = /^(temp create|fsync) /;

/**
 * Which points a scenario injects at: every `every`th one (from `offset`), and every one
 * whose label matches `touching`; with `throwAll`, a throw at every point all the same.
 */
interface Sampling {
  every: number;
  offset?: number;
  touching?: RegExp;
  throwAll?: boolean;
}

function selectCases(points: Point[], sampling: Sampling): Array<{ mode: Mode; point: Point }> {
  const ours = points.filter((p) => !SIMULATION_TEMP.test(p.label));
  const sampled = (p: Point, i: number) => FULL || i % sampling.every === (sampling.offset ?? 0) % sampling.every || sampling.touching?.test(p.label) === true;
  const throws = ours.filter((p, i) => sampling.throwAll || sampled(p, i));
  const kills = ours.filter((p, i) => sampled(p, i) && (FULL || !SAME_AS_NEIGHBOUR_KILL.test(p.label)));
  return [...throws.map((point) => ({ mode: 'throw' as const, point })), ...kills.map((point) => ({ mode: 'kill' as const, point }))];
}

/**
 * Backups of runs that did not finish: the manifest still says 'applying' and the journal
 * lacks a step's finish. This is what status and the next run take for an interrupted run.
 */
async function unfinishedBackups(img: Image): Promise<string[]> {
  const base = inImage(img.root, BACKUPS);
  const found: string[] = [];
  for (const id of await readdir(base).catch(() => [] as string[])) {
    if (!BACKUP_ID.test(id)) continue;
    const manifest = await readFile(path.join(base, id, 'manifest.json'), 'utf8').catch(() => null);
    if (manifest === null || JSON.parse(manifest).status !== 'applying') continue;
    const journal = await readFile(path.join(base, id, 'journal.jsonl'), 'utf8').catch(() => '');
    const finished = new Set(
      journal
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .filter((e) => e.event === 'finish')
        .map((e) => e.step),
    );
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

const isLockRelease = (point: Point) => /^lock release /.test(point.label);

/** The state with a lock left behind taken out of its strays: a lock whose removal failed is left, and taken over by the next run. */
function withoutLock(state: ServerState): ServerState {
  return { ...state, strays: state.strays.filter((s) => !s.endsWith(`${path.sep}kerio-dcc.lock`)) };
}

/**
 * After an injected error the server must be in one of two states, and the exit code must
 * say which: `restored` (exit `restoredCodes`) or `completed` (exit 0).
 */
async function assertEndedConsistently(
  t: Tap,
  img: Image,
  faulted: CliResult,
  expect: { restored: ServerState; completed: ServerState; restoredCodes: number[]; cause: RegExp; lockMayStay?: boolean },
): Promise<void> {
  const found = await serverState(img);
  const state = expect.lockMayStay ? withoutLock(found) : found;
  const which = isDeepStrictEqual(state, expect.restored) ? 'restored' : isDeepStrictEqual(state, expect.completed) ? 'completed' : 'neither';
  const context = { exit: faulted.code, error: faulted.json?.error ?? null };
  if (which === 'neither')
    t.same(state, expect.restored, 'the server is as it was before this run (it is neither that nor what the run meant to make)', context);
  else t.pass(`the server is ${which === 'restored' ? 'as it was before this run' : 'what the run meant to make'}`);
  const codes = which === 'completed' ? [0] : expect.restoredCodes;
  t.ok(
    codes.includes(faulted.code),
    `the exit code says so: ${codes.join(' or ')} for a server ${which === 'completed' ? 'the run finished' : 'left as before'}, got ${faulted.code}`,
    context,
  );
  if (faulted.code !== 0) t.match(faulted.json?.error?.message, expect.cause, 'the message gives the cause');
  if (expect.lockMayStay) t.ok(existsSync(inImage(img.root, LOCK)), 'the lock it failed to remove is left, for the next run to take over (see below)');
  else t.notOk(existsSync(inImage(img.root, LOCK)), 'the lock was released');
  t.same(await unfinishedBackups(img), [], 'no backup is left marked as applying: the next run will not take this one for a crash');
}

/** One command on one layout, with what a run that fails must leave and what a run that finishes leaves. */
interface Scenario {
  name: string;
  command: Command;
  template: Image;
  answers: string;
  points: Point[];
  backedUp: number;
  finished: number;
  /** What a failed run must leave: the template as it was. */
  restored: ServerState;
  /** What a finished run leaves. */
  completed: ServerState;
  /** After a kill and a second run, `rollback --yes` must give back this state (null: not checked). */
  rollbackTo: ServerState | null;
}

async function scenario(
  t: Tap,
  name: string,
  command: Command,
  template: Image,
  options: { answers?: string; rollbackTo?: ServerState | null } = {},
): Promise<Scenario> {
  const answers = options.answers ?? SHORT_WAIT;
  const restored = await serverState(template);
  t.same(restored.strays, [], `${name}: the image starts with no stray file`);
  const counting = await copyImage(t, template);
  const points = await countPoints(t, counting, [...words(command), '--yes'], answers);
  const completed = await serverState(counting);
  t.notSame(completed.rules, restored.rules, `${name}: ${command} changes the rules folder (else the comparisons prove nothing)`);
  return {
    name,
    command,
    template,
    answers,
    points,
    backedUp: manifestPoint(points),
    finished: finishedPoint(points),
    restored,
    completed,
    rollbackTo: options.rollbackTo ?? null,
  };
}

const covered: Record<string, { planned: number; checked: number }> = {};
const started = Date.now();

/** Injects each case into its own copy of the scenario's template, and checks how the run ended. */
async function injectEach(t: Tap, s: Scenario, cases: Array<{ mode: Mode; point: Point }>): Promise<void> {
  const tally = (covered[`${s.command} (${s.name})`] ??= { planned: 0, checked: 0 });
  tally.planned += cases.length;
  t.comment(`${s.command} on ${s.name}: ${s.points.length} fault points, ${cases.length} injected runs; the backup manifest is written at point ${s.backedUp}`);
  t.jobs = PARALLEL_POINTS;
  await inParallel(cases, PARALLEL_POINTS, ({ mode, point }) =>
    t.test(`${s.command} on ${s.name}, ${mode} at point ${point.n} (${point.label})`, async (t) => {
      const img = await copyImage(t, s.template);
      const faulted = await kerio(img, [...words(s.command), '--yes'], { KERIO_DCC_FAULT: `${point.n}:${mode}` }, s.answers);
      if (mode === 'throw') await afterThrow(t, s, img, point, faulted);
      else await afterKill(t, s, img, point, faulted);
      tally.checked++;
    }),
  );
}

async function afterThrow(t: Tap, s: Scenario, img: Image, point: Point, faulted: CliResult): Promise<void> {
  // The run itself must restore: exit 3 (or 1) before its backup, 4 after it; 0 only if it absorbed the fault and finished.
  await assertEndedConsistently(t, img, faulted, {
    restored: s.restored,
    completed: s.completed,
    restoredCodes: point.n <= s.backedUp ? [1, 3] : [4],
    cause: new RegExp(`injected fault at point ${point.n}\\b`),
    lockMayStay: isLockRelease(point),
  });
  if (isLockRelease(point)) {
    const holder = JSON.parse(await readFile(inImage(img.root, LOCK), 'utf8'));
    t.equal(holder.command, words(s.command)[0], 'the lock left names the run');
    t.throws(() => process.kill(holder.pid, 0), { code: 'ESRCH' }, 'and a process that no longer runs: the next run takes it over');
  }
}

async function afterKill(t: Tap, s: Scenario, img: Image, point: Point, faulted: CliResult): Promise<void> {
  t.equal(faulted.code, KILLED, 'the run was killed at that point', { stdout: faulted.stdout.slice(0, 400) });
  const status = await kerio(img, ['status'], {}, s.answers);
  t.ok([0, 6].includes(status.code), `status reports (exit ${status.code})`, { error: status.json?.error ?? null });
  // Between the manifest and the last step's journal entry the run is unfinished; killed after that, it had finished.
  const unfinished = point.n > s.backedUp && point.n < s.finished;
  t.equal(
    unfinishedCheck(status)?.ok,
    !unfinished,
    unfinished ? 'status reports the run as unfinished' : 'nothing to restore: status reports no unfinished run',
    { detail: unfinishedCheck(status)?.detail },
  );

  // Killed before it wrote its lock (at the lock itself, or while checking the state folder), the run left none to take over.
  const lockLeft = existsSync(inImage(img.root, LOCK));
  const take = s.points.find((p) => p.label.startsWith('lock take '))!.n;
  const release = s.points.find((p) => p.label.startsWith('lock release '))!.n;
  t.equal(lockLeft, point.n > take && point.n <= release, 'a killed run leaves its lock exactly while it held it', { label: point.label });
  // Killed after it made its backup folder and before it put the backup in place, it left a .partial folder.
  const partialLeft = (await readdir(inImage(img.root, BACKUPS)).catch(() => [] as string[])).some((n) => PARTIAL.test(n));
  const made = s.points.find((p) => /^mkdir .*\.partial$/.test(p.label))?.n ?? Infinity;
  t.equal(partialLeft, point.n > made && point.n <= s.backedUp, 'a .partial folder is left exactly when killed while backing up', { label: point.label });
  // The administrator runs the same command again: it first restores the killed run (when it had not finished), then does its work.
  const again = await kerio(img, [...words(s.command), '--yes'], {}, s.answers);
  t.equal(again.code, 0, `${s.command} --yes after the kill runs through`, { error: again.json?.error ?? null });
  if (!lockLeft) t.notMatch(again.stderr, /taking over a lock/, 'there was no lock to take over');
  else t.match(again.stderr, new RegExp(`taking over a lock left by kerio-dcc ${words(s.command)[0]} \\(pid \\d+`), "it takes over the killed run's lock");
  const restoredFirst = (again.json?.warnings ?? []).some((w: string) => /restored from its backup before this run/.test(w));
  t.equal(restoredFirst, unfinished, unfinished ? 'it restored the interrupted run from its backup first' : 'there was no interrupted run to restore');
  t.same(await serverState(img), s.completed, `the server is what ${s.command} makes: rules folder, profiles, firewall rules, service, no stray file`);
  // A backup cut short by the kill is no backup: the run after clears it, saying so, and every backup left verifies.
  const cleared = again.stderr
    .split('\n')
    .filter((line) => /^warning: removed .*\.partial: the unfinished backup of a run that was stopped before it changed anything$/.test(line));
  t.equal(
    cleared.length,
    partialLeft ? 1 : 0,
    partialLeft ? 'it cleared the backup the killed run left unfinished, saying so' : 'there was no unfinished backup to clear',
  );
  t.same(
    (await readdir(inImage(img.root, BACKUPS))).filter((n) => PARTIAL.test(n)),
    [],
    'no unfinished backup is left',
  );
  const verify = await kerio(img, ['backups', '--verify'], {}, s.answers);
  t.equal(verify.code, 0, 'backups --verify exits 0', { error: verify.json?.error ?? null, backups: verify.json?.data?.backups });

  if (s.rollbackTo) {
    const rollback = await kerio(img, ['rollback', '--yes'], {}, s.answers);
    t.equal(rollback.code, 0, 'rollback --yes runs through', { error: rollback.json?.error ?? null });
    t.same(await serverState(img), s.rollbackTo, 'rollback gives back the original server');
  }
  t.notOk(existsSync(inImage(img.root, LOCK)), 'no lock is left');
}

// ---------------------------------------------------------------------------- layouts

/** Fixtures built once for the whole file: a failed build throws rather than asserting. */
async function mustRun(img: Image, args: string[], answers = SHORT_WAIT): Promise<void> {
  const result = await kerio(img, args, {}, answers);
  if (result.code !== 0) throw new Error(`${args.join(' ')} failed (${result.code}): ${result.json?.error?.message ?? result.stderr}`);
}

const demo = (t: Tap) => makeImage(t, {}, 'kerio-dcc-fault-');

async function installed(t: Tap): Promise<Image> {
  const img = await demo(t);
  await mustRun(img, ['install', '--yes']);
  return img;
}

/** 64-bit Kerio on 64-bit Windows: the System32 profile. */
const system32Layout = (t: Tap) => makeImage(t, { windows64: true, kerioBitness: 'x64' }, 'kerio-dcc-fault-');

/** Kerio's binaries cannot be read on 64-bit Windows: both profiles get the map. */
async function bothProfilesLayout(t: Tap): Promise<Image> {
  const img = await demo(t);
  for (const exe of ['mailserver.exe', 'plugins\\spamserver.exe']) await writeFile(inImage(img.root, `${img.installDir}\\${exe}`), 'not a PE file');
  return img;
}

function rule(name: string, direction: 'In' | 'Out', ports: { local: string; remote: string }, protocol = 'UDP'): SimFirewallRule {
  return {
    name,
    enabled: 'Yes',
    direction,
    profiles: 'Domain,Private,Public',
    grouping: '',
    localIp: 'Any',
    remoteIp: 'Any',
    protocol,
    localPort: ports.local,
    remotePort: ports.remote,
    edgeTraversal: 'No',
    action: 'Allow',
  };
}

/**
 * A server where kerio-dcc ran before (two old backups, which `backup.keep = 1` prunes), and
 * the firewall has rules already: Kerio's own SMTP rule, and a DCC rule with the wrong ports
 * that install replaces.
 */
async function firewallAndOldBackupsLayout(t: Tap): Promise<Image> {
  const img = await demo(t);
  await mustRun(img, ['install', '--yes']);
  await mustRun(img, ['uninstall', '--yes']);
  const file = inImage(img.root, SIMULATED_STATE_PATH);
  const state = (await loadSimState(file))!;
  state.firewall = [
    rule('Kerio Connect SMTP', 'In', { local: '25', remote: 'Any' }, 'TCP'),
    rule('Kerio DCC (UDP 6277 out)', 'Out', { local: 'Any', remote: '53' }),
  ];
  await saveSimState(file, state);
  return img;
}

t.test('an install that fails or is killed at any fault point ends with the server as before or fully provisioned', async (t) => {
  const template = await demo(t);
  const s = await scenario(t, 'the demo image', 'install', template);
  s.rollbackTo = s.restored;
  t.same(s.restored.firewall, [], 'before: no firewall rule');
  t.same(
    s.completed.firewall.map((r) => r.name),
    DCC_RULES,
    'after: exactly the two DCC rules',
  );
  await injectEach(t, s, selectCases(s.points, { every: 1 }));
});

t.test('a rollback that fails or is killed at any fault point ends with the server provisioned, or (after recovery) as before', async (t) => {
  const template = await installed(t);
  const s = await scenario(t, 'the demo image, installed', 'rollback', template);
  t.same(s.completed.firewall, [], 'a finished rollback leaves no firewall rule');
  await injectEach(t, s, selectCases(s.points, { every: 3, throwAll: true }));
});

t.test('an uninstall that fails or is killed at any fault point ends with DCC still on, or off', async (t) => {
  const template = await installed(t);
  const s = await scenario(t, 'the demo image, installed', 'uninstall', template);
  t.same(s.completed.firewall, [], 'a finished uninstall leaves no firewall rule');
  t.same(
    Object.keys(s.completed.profiles).filter((p) => p.endsWith('map')),
    [],
    'nor a map',
  );
  await injectEach(t, s, selectCases(s.points, { every: 4, offset: 1, throwAll: true }));
});

t.test('install on other layouts, faulted where the layout matters and at a sample of the other points', async (t) => {
  const layouts: Array<{ name: string; build: (t: Tap) => Promise<Image>; touching: RegExp; answers?: string; check: (t: Tap, s: Scenario) => void }> = [
    {
      name: '64-bit Kerio (System32 profile)',
      build: system32Layout,
      touching: /System32[\\/]config/,
      check: (t, s) =>
        t.ok(
          Object.keys(s.completed.profiles).some((p) => /System32\\.*\.spamassassin.*map$/.test(p)),
          'the map goes to the System32 profile',
        ),
    },
    {
      name: 'unreadable Kerio binaries (both profiles)',
      build: bothProfilesLayout,
      touching: /config[\\/]systemprofile/,
      check: (t, s) => t.equal(Object.keys(s.completed.profiles).filter((p) => p.endsWith('map')).length, 2, 'the map goes to both profiles'),
    },
    {
      name: 'firewall rules already there, old backups to prune',
      build: firewallAndOldBackupsLayout,
      touching: /firewall|netsh|^prune /,
      answers: KEEP_ONE,
      check: (t, s) => {
        t.ok(s.points.filter((p) => /^prune /.test(p.label)).length >= 1, 'the run prunes old backups');
        t.same(
          s.completed.firewall.map((r) => r.name),
          ['Kerio Connect SMTP', ...DCC_RULES].sort(),
          "Kerio's own rule stays, the wrong DCC rule is replaced",
        );
        t.same(s.completed.firewall.find((r) => r.name === 'Kerio DCC (UDP 6277 out)')?.remotePort, '6277');
      },
    },
  ];
  t.jobs = 1;
  for (const [offset, layout] of layouts.entries()) {
    await t.test(layout.name, async (t) => {
      const s = await scenario(t, layout.name, 'install', await layout.build(t), { answers: layout.answers });
      layout.check(t, s);
      await injectEach(t, s, selectCases(s.points, { every: LAYOUT_SAMPLE, offset, touching: layout.touching }));
    });
  }
});

/** Installed and watched, then a Kerio upgrade replaced the rules folder: what the scheduled repair finds. */
async function upgradedWhileWatched(t: Tap): Promise<Image> {
  const img = await installed(t);
  await mustRun(img, ['watch', '--yes']);
  const fresh = await demo(t);
  const rules = inImage(img.root, img.rulesDir);
  await rm(rules, { recursive: true });
  await cp(inImage(fresh.root, fresh.rulesDir), rules, { recursive: true });
  return img;
}

t.test('the scheduled repair (watch --run) failing or killed at any sampled point ends with the server as the upgrade left it, or repaired', async (t) => {
  const template = await upgradedWhileWatched(t);
  const s = await scenario(t, 'the demo image, watched, after a Kerio upgrade', 'watch --run', template);
  t.ok(
    s.points.some((p) => /eventcreate/.test(p.label)),
    'the repair writes its event through the runner',
  );
  // Every 4th point, and every point of the service, the event and the run's own record.
  await injectEach(t, s, selectCases(s.points, { every: 4, offset: 2, touching: /sc\.exe (stop|start)|eventcreate|last-run\.json/ }));
});

// ---------------------------------------------------------------------------- double faults

t.test('a second fault while a failed install is restored ends with exit 4, or exit 5 and a command that gives back the whole server', async (t) => {
  const template = await demo(t);
  const before = await serverState(template);
  const points = await countPoints(t, await copyImage(t, template), ['install', '--yes']);
  // Failing the second firewall rule (files and a rule to put back), and starting Kerio again (all of that, and the service).
  const firsts = [/add rule name=Kerio DCC \(UDP 6277 in\)/, /sc\.exe start KerioMailServer$/].map((re) => {
    const p = points.find((x) => re.test(x.label));
    if (!p) throw new Error(`no fault point matches ${re}`);
    return p;
  });
  for (const first of firsts) {
    await t.test(`first fault at point ${first.n} (${first.label})`, async (t) => {
      const { result, points: reached } = await loggedRun(t, await copyImage(t, template), ['install', '--yes'], `${first.n}:throw`);
      t.equal(result.code, 4, 'with one fault, the install restores everything (exit 4)', { error: result.json?.error ?? null });
      const restore = reached.filter((p) => p.n > first.n && !SIMULATION_TEMP.test(p.label));
      const restorePoints = FULL || first === firsts[0] ? restore : restore.filter((p, i) => i % 2 === 0 || /sc\.exe (start|stop)/.test(p.label));
      t.ok(
        restore.some((p) => /^(writeFile|deleteFile|firewall)/.test(p.label)),
        'the restore has points of its own',
      );
      const tally = (covered['install, second fault during its restore'] ??= { planned: 0, checked: 0 });
      tally.planned += restorePoints.length;
      t.jobs = PARALLEL_POINTS;
      await inParallel(restorePoints, PARALLEL_POINTS, (second) =>
        t.test(`second fault at point ${second.n} (${second.label})`, async (t) => {
          const img = await copyImage(t, template);
          const faulted = await kerio(img, ['install', '--yes'], { KERIO_DCC_FAULT: `${first.n}:throw,${second.n}:throw` });
          const context = { error: faulted.json?.error ?? null };
          t.match(faulted.json?.error?.message, new RegExp(`injected fault at point ${first.n}\\b`), 'the message gives the first cause');
          if (faulted.code === 4) {
            // The second fault hit something the restore can do without (its journal entry).
            t.same(withoutLock(await serverState(img)), before, 'exit 4: the server is as before', context);
          } else {
            t.equal(faulted.code, 5, 'exit 5: the restore was incomplete', context);
            t.match(faulted.json?.error?.message, new RegExp(`injected fault at point ${second.n}\\b`), 'the message names what could not be restored');
            const advised = /run: kerio-dcc (rollback \S+ --force --yes --restart)\b/.exec(`${faulted.json?.error?.hint}`);
            t.ok(advised, `the hint gives the command that puts back the rest: ${faulted.json?.error?.hint}`);
            if (!advised) return;
            const followUp = await kerio(img, advised[1]!.split(' '));
            t.equal(followUp.code, 0, `kerio-dcc ${advised[1]} exits 0`, { error: followUp.json?.error ?? null });
            t.same(await serverState(img), before, 'and the server is whole again: as before the install');
          }
          t.same(await unfinishedBackups(img), [], 'no backup is left marked as applying');
          tally.checked++;
        }),
      );
    });
  }
});

t.test('a run killed while it recovers a killed install is recovered by the next run', async (t) => {
  const template = await demo(t);
  const before = await serverState(template);
  const points = await countPoints(t, await copyImage(t, template), ['install', '--yes']);
  const provisioned = await serverState(
    await (async () => {
      const img = await copyImage(t, template);
      await mustRun(img, ['install', '--yes']);
      return img;
    })(),
  );
  // Killed after local.cf, v310.pre and the first firewall rule were changed.
  const kill = points.find((p) => /add rule name=Kerio DCC \(UDP 6277 in\)/.test(p.label))!;
  const killed = await copyImage(t, template);
  t.equal((await kerio(killed, ['install', '--yes'], { KERIO_DCC_FAULT: `${kill.n}:kill` })).code, KILLED, `the first install is killed at point ${kill.n}`);

  const recovering = await countPoints(t, await copyImage(t, killed), ['install', '--yes']);
  const end = recovering.findIndex((p) => p.label === 'journal restore restored');
  t.ok(end > 0, 'the next install restores the killed one first');
  const recovery = recovering
    .slice(0, end + 1)
    .filter(
      (p, i) =>
        !SIMULATION_TEMP.test(p.label) &&
        !SAME_AS_NEIGHBOUR_KILL.test(p.label) &&
        (FULL || i % 3 === 0 || /^(writeFile|deleteFile|firewall|rename .*manifest)/.test(p.label)),
    );
  const tally = (covered['install, killed while recovering a killed install'] ??= { planned: 0, checked: 0 });
  tally.planned += recovery.length;
  t.comment(`recovery of a killed install: ${end + 1} fault points, ${recovery.length} kills`);
  t.jobs = PARALLEL_POINTS;
  await inParallel(recovery, PARALLEL_POINTS, (point) =>
    t.test(`recovery killed at point ${point.n} (${point.label})`, async (t) => {
      const img = await copyImage(t, killed);
      const second = await kerio(img, ['install', '--yes'], { KERIO_DCC_FAULT: `${point.n}:kill` });
      t.equal(second.code, KILLED, 'the recovering run was killed at that point');
      const third = await kerio(img, ['install', '--yes']);
      t.equal(third.code, 0, 'the next install --yes runs through', { error: third.json?.error ?? null });
      t.same(await serverState(img), provisioned, 'the server is fully provisioned');
      const rollback = await kerio(img, ['rollback', '--yes']);
      t.equal(rollback.code, 0, 'rollback --yes runs through', { error: rollback.json?.error ?? null });
      t.same(await serverState(img), before, 'and gives back the original server');
      tally.checked++;
    }),
  );
});

t.test('injection points covered', async (t) => {
  const rows = Object.entries(covered);
  t.ok(rows.length >= 7, `every scenario injected (${rows.map(([name]) => name).join('; ')})`);
  for (const [name, { planned, checked }] of rows) {
    t.ok(planned > 0, `${name}: there were points to inject`);
    t.equal(checked, planned, `${name}: every planned injection ran to its checks`);
  }
  const total = rows.reduce((sum, [, r]) => sum + r.checked, 0);
  t.comment(
    `fault injection: ${rows.map(([name, r]) => `${name} ${r.checked}`).join(', ')}; ${total} injected runs checked in ${Math.round((Date.now() - started) / 1000)} s${FULL ? ' (KERIO_DCC_FAULT_FULL)' : ''}`,
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
  t.ok(
    clock.sleeps.every((ms) => ms <= 1000),
    'no single wait exceeds 1 s',
  );
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
  // A lock only counts in a state folder kerio-dcc secured (the simulation records that).
  await saveSimState(inImage(img.root, SIMULATED_STATE_PATH), withStateFolderSecured(await simState(img)));
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
  t.match(
    install.json?.error?.message,
    new RegExp(`Another kerio-dcc run holds the lock: uninstall \\(pid ${process.pid} on .+, started 2026-01-02T03:04:05\\.000Z\\)`),
    'the message names who holds it',
  );
  t.same(withoutLock(await serverState(img)), before, 'nothing was changed but the lock the other run holds');
  t.same(await readFile(lock), lockBytes, "the other run's lock is left alone");
});

t.test('a lock left by a process that no longer runs is taken over with a warning, and the install runs', async (t) => {
  const img = await makeImage(t);
  const pid = await deadPid();
  const lock = await writeLock(img, { pid, host: os.hostname(), command: 'install' });
  const install = await kerio(img, ['install', '--yes']);
  t.equal(install.code, 0, 'install runs through', { error: install.json?.error ?? null });
  t.match(
    install.stderr,
    new RegExp(`warning: taking over a lock left by kerio-dcc install \\(pid ${pid}, started 2026-01-02T03:04:05\\.000Z\\), which is no longer running`),
  );
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
  t.same(withoutLock(await serverState(img)), before, 'nothing was changed but the lock the other run holds');
});
