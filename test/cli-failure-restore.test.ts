import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import type { Image } from '../src/demo/image.js';
import { saveSimState, SIMULATED_STATE_PATH, type SimService } from '../src/system/simulated.js';
import { basenameWin, joinWin } from '../src/target/target.js';
import { BIN, hashTree, inImage, makeImage, tempDir, type CliResult, kerioOnImage, rulesHost, simState } from './helpers/cli.js';
import { withStateFolderSecured } from '../src/system/simulated/acl.js';

// Each test works on its own image, so two can run at once.
t.jobs = 2;

const run = promisify(execFile);
// The demo image is 32-bit Kerio on 64-bit Windows: WOW64 sends its profile to SysWOW64.
const PROFILE = 'C:\\Windows\\SysWOW64\\config\\systemprofile\\.spamassassin';
const MAP_COPY = joinWin(PROFILE, 'map');
const BACKUPS = 'C:\\ProgramData\\kerio-dcc\\backups';
const RUNNING = 4;
const STOPPED = 1;

const kerio = kerioOnImage;

/** The simulated system; it has no state file until a command changes something. */

async function setService(img: Image, service: Partial<SimService>): Promise<void> {
  const state = await simState(img);
  Object.assign(state.services['KerioMailServer']!, service);
  await saveSimState(inImage(img.root, SIMULATED_STATE_PATH), withStateFolderSecured(state));
}

async function manifestOf(img: Image, result: CliResult): Promise<any> {
  const id = backupIdIn(result);
  return JSON.parse(await readFile(path.join(inImage(img.root, joinWin(BACKUPS, id)), 'manifest.json'), 'utf8'));
}

/** The failed run's backup, named in its message (a failed run reports no `backup`). */
function backupIdIn(result: CliResult): string {
  const named = /backups\\(\d{8}T\d{6}Z(?:-\d+)?)/.exec(`${result.json?.error?.message}`);
  if (!named) throw new Error(`the message names no backup: ${result.json?.error?.message ?? result.stderr}`);
  return named[1]!;
}

function stepStatus(result: CliResult, id: string): string | undefined {
  return result.json?.steps?.find((s: { id: string }) => s.id === id)?.status;
}

/** What an administrator checks after a failed install: is everything as it was? */
async function assertAsBefore(t: Test, img: Image, originalRules: Record<string, string>): Promise<void> {
  t.same(await hashTree(rulesHost(img)), originalRules, 'every file of the rules folder is as before, byte for byte');
  t.notOk(existsSync(inImage(img.root, MAP_COPY)), 'the map copy is gone');
  t.notOk(existsSync(inImage(img.root, PROFILE)), 'the .spamassassin folder the run made is gone');
  t.same((await simState(img)).firewall, [], 'no firewall rule is left');
}

/** chattr +i makes a folder unwritable even for root (on ext2/3/4, xfs, btrfs), where file modes do not. */
async function chattrWorks(): Promise<boolean> {
  const probe = await tempDir(t);
  try {
    await run('chattr', ['+i', probe]);
    await run('chattr', ['-i', probe]);
    return true;
  } catch {
    return false;
  }
}
const CHATTR_MISSING = (await chattrWorks())
  ? false
  : 'needs chattr +i on the temp folder (root on ext2/3/4, xfs or btrfs) to make the rules folder unwritable even for root';

t.test('when a rule file cannot be written, install puts back what it had done and exits 4', { skip: CHATTR_MISSING }, async (t) => {
  const img = await makeImage(t);
  const original = await hashTree(rulesHost(img));
  // Immutable: even root cannot create local.cf's temp file there, so the local.cf step fails after the profile and map steps.
  await run('chattr', ['+i', rulesHost(img)]);
  let install: CliResult;
  try {
    install = await kerio(img, ['install', '--yes']);
  } finally {
    await run('chattr', ['-i', rulesHost(img)]);
  }
  t.equal(install.code, 4, 'exit 4: failed and restored', { error: install.json?.error ?? null, stderr: install.stderr });
  t.equal(install.json.schema, 1);
  t.match(install.json.error.message, /Step "local\.cf" failed/, 'the message names the step that failed');
  t.match(install.json.error.message, /Everything this run changed was restored from the backup/, 'and says everything was restored');
  t.equal(stepStatus(install, 'map'), 'changed', 'the map had been copied before the failure (else the restore proves nothing)');
  t.equal(stepStatus(install, 'local-cf'), 'failed');
  await assertAsBefore(t, img, original);
  t.equal((await manifestOf(img, install)).status, 'restored', "the backup's manifest says restored");
  t.notOk(
    install.json.commands.some((c: { args: string[] }) => c.args[0] === 'stop'),
    'Kerio was never stopped',
  );

  const again = await kerio(img, ['install', '--yes']);
  t.equal(again.code, 0, 'once the cause is gone, install runs through', { error: again.json?.error ?? null });
});

t.test('when Kerio does not start again, install puts back every file and rule, and exits 5 because Kerio is left stopped', async (t) => {
  const img = await makeImage(t);
  const original = await hashTree(rulesHost(img));
  await setService(img, { startFails: true });
  const install = await kerio(img, ['install', '--yes']);
  // Exit 4 would claim the server is as it was; Kerio was running before and is stopped now.
  t.equal(install.code, 5, 'exit 5: failed, restore incomplete', { error: install.json?.error ?? null, stderr: install.stderr });
  t.match(install.json.error.message, /Step "service KerioMailServer" failed/, 'the message names the step that failed');
  t.match(install.json.error.message, /was incomplete:\n {2}- service KerioMailServer: /, 'and says that only the service could not be restored');
  t.match(install.json.error.message, /WIN32_EXIT_CODE 1067/, "and gives Windows' reason");
  await assertAsBefore(t, img, original);
  t.equal((await manifestOf(img, install)).status, 'restore-failed', "the backup's manifest says the restore failed");
  t.equal((await simState(img)).services['KerioMailServer']?.state, STOPPED);
});

t.test('when Kerio does not start with the new settings but does with the old ones, install restores everything, Kerio runs, and it exits 4', async (t) => {
  const img = await makeImage(t);
  const original = await hashTree(rulesHost(img));
  await setService(img, { startFails: 1 });
  const install = await kerio(img, ['install', '--yes']);
  t.equal(install.code, 4, 'exit 4: failed after changes, everything restored', { error: install.json?.error ?? null, stderr: install.stderr });
  t.match(install.json.error.message, /Step "service KerioMailServer" failed/, 'the message names the step that failed');
  t.match(install.json.error.message, /Everything this run changed was restored/, 'and says that it was restored');
  await assertAsBefore(t, img, original);
  t.equal((await manifestOf(img, install)).status, 'restored');
  t.equal((await simState(img)).services['KerioMailServer']?.state, RUNNING, 'Kerio runs again, on the old settings');
});

t.test('after Kerio failed to start, doing what the message advises once the cause is fixed leaves Kerio running', async (t) => {
  const img = await makeImage(t);
  await setService(img, { startFails: true });
  const install = await kerio(img, ['install', '--yes']);
  t.equal(install.code, 5);
  const advised = /run: kerio-dcc (.+?)(?: \(|$)/.exec(`${install.json.error.hint}`);
  t.ok(advised, `the hint names a command: ${install.json.error.hint}`);
  if (!advised) return;
  await setService(img, { startFails: false });
  const followUp = await kerio(img, advised[1]!.split(' '));
  t.equal(followUp.code, 0, `kerio-dcc ${advised[1]} exits 0`, { error: followUp.json?.error ?? null });
  t.equal((await simState(img)).services['KerioMailServer']?.state, RUNNING, 'Kerio runs again (it ran before install)');
});

t.test('when Kerio hangs in STOP_PENDING, install gives up after service.timeout_seconds, puts back the files, and exits 5 naming the state', async (t) => {
  const img = await makeImage(t);
  const original = await hashTree(rulesHost(img));
  await setService(img, { stopHangs: true });
  const answers = path.join(await tempDir(t), 'fast.ini');
  await writeFile(answers, '[service]\ntimeout_seconds = 1\n');
  const started = Date.now();
  const install = await kerio(img, ['install', '--yes', '--answers', answers]);
  t.ok(Date.now() - started < 20_000, 'the timeout bounds the wait');
  t.equal(install.code, 5, 'exit 5: Kerio is left half-stopped', { error: install.json?.error ?? null, stderr: install.stderr });
  t.match(install.json.error.message, /STOP_PENDING/, 'the message names the state the service is stuck in');
  t.match(install.json.error.message, /1 s/, 'and the time it was given');
  await assertAsBefore(t, img, original);
  t.equal((await manifestOf(img, install)).status, 'restore-failed');
});

/**
 * The fault-injection hook numbers every file operation and command of a run; a counting
 * run on a twin image finds the number of the second firewall rule's netsh add. A counting
 * run that fails, or finds no such point, fails the test: it must not turn into a skip.
 */
async function secondRuleFaultPoint(t: Test): Promise<string | null> {
  const twin = await makeImage(t);
  const log = path.join(await tempDir(t), 'points.log');
  const counted = await kerio(twin, ['install', '--yes'], { KERIO_DCC_FAULT: 'count', KERIO_DCC_FAULT_LOG: log });
  t.equal(counted.code, 0, 'the counting run (KERIO_DCC_FAULT=count) runs through', { error: counted.json?.error ?? null, stderr: counted.stderr });
  const points = (await readFile(log, 'utf8').catch(() => '')).split('\n');
  const point = points.find((line) => /\tfirewall Kerio DCC \(UDP 6277 in\)$/.test(line))?.split('\t')[0] ?? null;
  t.ok(point, "the counting run reached the second rule's netsh add as a fault point", { points: points.length });
  return point;
}

t.test('when the second firewall rule cannot be added, install puts back the files and the first rule and exits 4', async (t) => {
  const secondRule = await secondRuleFaultPoint(t);
  if (!secondRule) return;
  const img = await makeImage(t);
  const original = await hashTree(rulesHost(img));
  const install = await kerio(img, ['install', '--yes'], { KERIO_DCC_FAULT: `${secondRule}:throw` });
  t.equal(install.code, 4, 'exit 4: failed and restored', { error: install.json?.error ?? null, stderr: install.stderr });
  t.match(install.json.error.message, /injected fault/);
  t.equal(stepStatus(install, 'v310-pre'), 'changed', 'local.cf and v310.pre had been changed before the failure');
  const netshAdds = install.json.commands.filter((c: { program: string; args: string[] }) => basenameWin(c.program) === 'netsh.exe' && c.args[2] === 'add');
  t.equal(netshAdds.length, 1, 'the first rule had been added');
  await assertAsBefore(t, img, original);
  t.equal((await manifestOf(img, install)).status, 'restored');
  const id = backupIdIn(install);
  t.match(
    install.json.error.message,
    new RegExp(
      `^Step "[^"]+" failed: injected fault at point ${secondRule} \\([^]*\\nEverything this run changed was restored from the backup C:\\\\ProgramData\\\\kerio-dcc\\\\backups\\\\${id}\\.$`,
    ),
    'the message names the step, the cause and the backup',
  );
  t.equal(install.json.error.hint, 'Fix the cause above and run again.');
  t.same([stepStatus(install, 'firewall'), stepStatus(install, 'service')], ['failed', 'not-run'], 'the step after the failed one says it did not run');
  const serviceControl = install.json.commands.filter(
    (c: { program: string; args: string[] }) => basenameWin(c.program) === 'sc.exe' && ['start', 'stop'].includes(c.args[0]!),
  );
  t.same(serviceControl, [], 'Kerio was not touched, so the restore does not restart it');
  const journal = (await readFile(path.join(inImage(img.root, joinWin(BACKUPS, id)), 'journal.jsonl'), 'utf8'))
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.match(
    journal.slice(-2),
    [
      { step: 'firewall', event: 'failed' },
      { step: 'restore', event: 'restored' },
    ],
    'the journal records the failure and the restore',
  );
});

t.test('Ctrl-C while Kerio is slowly stopping ends the wait at once, restores everything, and exits 130', async (t) => {
  const img = await makeImage(t);
  const original = await hashTree(rulesHost(img));
  // A slow stop: without Ctrl-C the run would wait many polls (one a second) for STOPPED.
  await setService(img, { stopPolls: 6 });
  const child = spawn(process.execPath, [BIN, 'install', '--root', img.root, '--simulate', '--yes', '--json'], {
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  const waiting = new Promise<void>((resolve) =>
    child.stderr.on('data', (d) => {
      stderr += d;
      // The backup is made and the steps run; the service step follows the file steps within a moment.
      if (stderr.includes('backup: ')) setTimeout(resolve, 1500);
    }),
  );
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  await waiting;
  const sent = Date.now();
  child.kill('SIGINT');
  const code = await exited;
  t.equal(code, 130, 'exit 130: interrupted, and everything was put back', { stderr });
  t.ok(Date.now() - sent < 20_000, 'it did not wait out the slow stop before restoring');
  const report = JSON.parse(stdout);
  t.match(report.error.message, /Interrupted during step "service KerioMailServer"/, 'the message says where it was interrupted');
  t.match(report.error.message, /Everything this run changed was restored/);
  await assertAsBefore(t, img, original);
  t.equal((await simState(img)).services['KerioMailServer']?.state, RUNNING, 'Kerio runs again');
});
