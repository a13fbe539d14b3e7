import { spawnSync } from 'node:child_process';
import { cp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import type { Image } from '../src/demo/image.js';
import { loadAnswers } from '../src/answers/load.js';
import { ANSWERS_COPY, LAST_RUN, TASK_FILE } from '../src/managed/watchTask.js';
import { loadSimState, saveSimState, SIMULATED_STATE_PATH, type SimState } from '../src/system/simulated.js';
import { EVENTS } from '../src/windows/eventLog.js';
import {
  TASK_NAME,
  quoteWindowsArg,
  xmlEscape,
  taskAction,
  taskFileBytes,
  taskFileText,
  taskFingerprint,
  taskXml,
  type TaskSpec,
} from '../src/windows/scheduledTask.js';
import { PROJECT, hashTree, inImage, kerioOnImage, makeImage, rulesHost, runCli, simState, succeeded, tempDir, type CliResult } from './helpers/cli.js';
import { windowsArgv } from './helpers/windowsArgv.js';
import { withStateFolderSecured } from '../src/system/simulated/acl.js';

const XSD = path.join(PROJECT, 'test', 'fixtures', 'task-scheduler', 'task-subset.xsd');
const HAS_XMLLINT = spawnSync('xmllint', ['--version']).status === 0;
const LOGS = 'C:\\ProgramData\\kerio-dcc\\logs';

const SPEC: TaskSpec = {
  command: 'C:\\Program Files\\kerio-dcc\\kerio-dcc.exe',
  args: ['watch', '--run', '--answers', 'C:\\ProgramData\\kerio-dcc\\watch\\answers.ini'],
  intervalHours: 4,
  serviceDisplayName: 'Kerio Connect',
  dailyAt: null,
  description: 'kerio-dcc <test> & "quotes"',
};

/** Whether xmllint accepts a task file (UTF-16, as schtasks reads it) against the schema's parts. */
async function schemaCheck(dir: string, xml: string): Promise<{ ok: boolean; output: string }> {
  const file = path.join(dir, `task-${Math.random().toString(36).slice(2)}.xml`);
  await writeFile(file, taskFileBytes(xml));
  const run = spawnSync('xmllint', ['--noout', '--schema', XSD, file], { encoding: 'utf8' });
  return { ok: run.status === 0, output: `${run.stdout}${run.stderr}` };
}

t.test(
  'the task definition is valid against the Task Scheduler schema and holds every setting asked for',
  { skip: HAS_XMLLINT ? false : 'xmllint is not installed (Debian: libxml2-utils)' },
  async (tt) => {
    const dir = await tempDir(tt);
    for (const spec of [SPEC, { ...SPEC, dailyAt: '02:30', intervalHours: 24 }, { ...SPEC, serviceDisplayName: null, intervalHours: 1 }]) {
      const xml = taskXml(spec);
      const check = await schemaCheck(dir, xml);
      tt.ok(check.ok, `schema-valid (interval ${spec.intervalHours} h, window ${spec.dailyAt}, service ${spec.serviceDisplayName})`, { output: check.output });
      tt.match(xml, /<UserId>S-1-5-18<\/UserId>/, 'runs as SYSTEM, by SID');
      tt.match(xml, /<RunLevel>HighestAvailable<\/RunLevel>/, 'with the highest privileges');
      tt.match(xml, /<BootTrigger>\s*<Enabled>true<\/Enabled>\s*<Delay>PT5M<\/Delay>/, 'at boot, after a delay');
      tt.match(
        xml,
        spec.intervalHours === 24 ? /<Interval>P1D<\/Interval>/ : new RegExp(`<Interval>PT${spec.intervalHours}H</Interval>`),
        'repeated every N hours',
      );
      tt.equal(/<EventTrigger>/.test(xml), spec.serviceDisplayName !== null, 'a service trigger when the display name is known');
      tt.equal(/<CalendarTrigger>/.test(xml), spec.dailyAt !== null, 'a daily run at the window only with a window');
    }
    const xml = taskXml(SPEC);
    tt.match(
      xml,
      xmlEscape("[Provider[@Name='Service Control Manager'] and EventID=7036]] and *[EventData[Data[@Name='param1']='Kerio Connect']]"),
      'the Service Control Manager event 7036 of the Kerio service (escaped in the XML)',
    );
    tt.match(xml, '<QueryList><Query Id="0" Path="System">'.replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;'), 'in the System log');
    tt.match(taskFileText(taskFileBytes(xml)), /^<\?xml version="1.0" encoding="UTF-16"\?>/, 'the file is UTF-16 as declared');
    // The schema check can fail: a trigger's elements out of order, an unknown run level, an interval over 31 days.
    for (const [what, bad] of [
      ['Delay before Enabled', xml.replace('<Enabled>true</Enabled>\r\n      <Delay>PT5M</Delay>', '<Delay>PT5M</Delay>\r\n      <Enabled>true</Enabled>')],
      ['run level Highest', xml.replace('HighestAvailable', 'Highest')],
      ['interval of 32 days', xml.replace('<Interval>PT4H</Interval>', '<Interval>P32D</Interval>')],
      ['no actions', xml.replace(/<Actions[\s\S]*<\/Actions>/, '')],
    ] as const) {
      tt.notOk((await schemaCheck(dir, bad)).ok, `rejected: ${what}`);
    }
  },
);

t.test('the task command line reaches kerio-dcc as the same arguments, whatever the paths hold', async (tt) => {
  const args = ['watch', '--run', '--answers', 'C:\\Program Files\\Ki "quoted"\\answers.ini', 'C:\\ends in slash\\', '', 'Služby', 'a\\\\"b', 'plain'];
  const line = ['"C:\\Program Files\\kerio-dcc\\kerio-dcc.exe"', ...args.map(quoteWindowsArg)].join(' ');
  tt.same(windowsArgv(line).slice(1), args, 'CommandLineToArgvW rules give the array back');
  const action = taskAction(taskXml({ ...SPEC, args }))!;
  tt.equal(action.command, SPEC.command);
  tt.same(windowsArgv(`"${action.command}" ${action.arguments}`).slice(1), args, 'through the XML escaping too');
});

t.test('a registered task is compared by what it runs and when, not by its bytes', async (tt) => {
  const xml = taskXml(SPEC);
  const reSerialized = xml.replace(/\r\n\s*/g, '').replace('<Author>kerio-dcc</Author>', '<Author>kerio-dcc</Author><Date>2026-01-01T00:00:00</Date>');
  tt.equal(taskFingerprint(reSerialized), taskFingerprint(xml), 'layout and added fields do not count');
  tt.not(taskFingerprint(taskXml({ ...SPEC, intervalHours: 6 })), taskFingerprint(xml), 'another interval does');
  tt.not(taskFingerprint(xml.replace('S-1-5-18', 'S-1-5-32-545')), taskFingerprint(xml), 'another account does');
  tt.not(taskFingerprint(xml.replace('watch --run', 'watch --run --x')), taskFingerprint(xml), 'another command line does');
});

t.test('the [watch] and [log] answers: defaults, and every bad value named', async (tt) => {
  const dir = await tempDir(tt);
  const defaults = await loadAnswers(null);
  tt.same(defaults.answers.watch, { intervalHours: 4, restart: 'now', window: '' });
  tt.same(defaults.answers.log, { keepDays: 30 });
  const good = path.join(dir, 'good.ini');
  await writeFile(good, '[watch]\ninterval_hours = 12\nrestart = window\nwindow = 23:30-01:00\n[log]\nkeep_days = 7\n');
  tt.same((await loadAnswers(good)).answers.watch, { intervalHours: 12, restart: 'window', window: '23:30-01:00' });
  const bad = path.join(dir, 'bad.ini');
  await writeFile(bad, '[watch]\ninterval_hours = 0\nrestart = later\nwindow = 2:00-25:00\n[log]\nkeep_days = many\n');
  const err = await loadAnswers(bad).catch((e: unknown) => e as { problems: string[] });
  tt.equal(err.problems.length, 4, 'all four at once');
  tt.match(
    err.problems.join('\n'),
    /watch\.interval_hours \(line 2\).*from 1 to 168[\s\S]*watch\.restart \(line 3\).*now, window, never[\s\S]*watch\.window \(line 4\).*HH:MM-HH:MM[\s\S]*log\.keep_days \(line 6\)/,
  );
  const noWindow = path.join(dir, 'nowindow.ini');
  await writeFile(noWindow, '[watch]\nrestart = window\n');
  const err2 = await loadAnswers(noWindow).catch((e: unknown) => e as { problems: string[] });
  tt.match(err2.problems.join('\n'), /watch\.restart \(line 2\): is "window", but \[watch\] window is not set/);
});

// ---------------------------------------------------------------- end to end, simulated

const SHORT = '[service]\ntimeout_seconds = 4\n';

async function answersFile(tt: Tap, text: string): Promise<string> {
  const dir = await tempDir(tt, 'kerio dcc watch answers ');
  const file = path.join(dir, 'my answers.ini');
  await writeFile(file, text);
  return file;
}

type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

async function kerio(img: Image, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return kerioOnImage(img, args, env);
}

/** The image's simulated system with its state folder secured, as kerio-dcc would have made it. */
async function watchedImage(tt: Tap, answers: string): Promise<Image> {
  const img = await makeImage(tt, {}, 'kerio dcc watch ');
  await saveSimState(inImage(img.root, SIMULATED_STATE_PATH), withStateFolderSecured(await simState(img)));
  succeeded(tt, await kerio(img, ['install', '--answers', answers, '--yes']), 'install');
  const watch = await kerio(img, ['watch', '--answers', answers, '--yes']);
  succeeded(tt, watch, 'watch');
  return img;
}

async function state(img: Image): Promise<SimState> {
  return (await loadSimState(inImage(img.root, SIMULATED_STATE_PATH)))!;
}

/** A Kerio upgrade: the rules folder replaced by a fresh copy, as the installer leaves it. */
async function kerioUpgrade(tt: Tap, img: Image): Promise<void> {
  const fresh = await makeImage(tt);
  await rm(rulesHost(img), { recursive: true });
  await cp(rulesHost(fresh), rulesHost(img), { recursive: true });
}

/** Runs exactly what the registered task runs: its Command with its Arguments split as Windows splits them. */
async function runTask(img: Image, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const task = (await state(img)).tasks?.[TASK_NAME.toLowerCase()];
  if (!task) throw new Error('no task registered');
  const action = taskAction(task.xml)!;
  const argv = windowsArgv(`"${action.command}" ${action.arguments}`);
  const { spawn } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn(action.command, argv.slice(1), { env: { ...process.env, NODE_OPTIONS: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, json: null }));
  });
}

async function logLines(img: Image): Promise<string[][]> {
  const folder = inImage(img.root, LOGS);
  const lines: string[][] = [];
  for (const name of (await readdir(folder)).sort()) {
    for (const line of (await readFile(path.join(folder, name), 'utf8')).split('\r\n').filter(Boolean)) lines.push(line.split('\t'));
  }
  return lines;
}

t.test('end to end: watch, a Kerio upgrade, the task repairs DCC, logs and raises the warning; a second run does nothing', async (tt) => {
  const answers = await answersFile(tt, SHORT);
  const img = await watchedImage(tt, answers);
  const s1 = await state(img);
  const task = s1.tasks?.[TASK_NAME.toLowerCase()];
  tt.ok(task, `${TASK_NAME} is registered`);
  tt.same(await readFile(inImage(img.root, ANSWERS_COPY)), await readFile(answers), 'the answers are copied into the state folder');
  const action = taskAction(task!.xml)!;
  tt.same(
    windowsArgv(`"${action.command}" ${action.arguments}`).slice(-6),
    ['--run', '--answers', inImage(img.root, ANSWERS_COPY), '--root', img.root, '--simulate'],
    'the task uses the copy, not the file given',
  );
  tt.same(
    s1.events?.map((e) => [e.source, e.type, e.id]),
    [['kerio-dcc', 'INFORMATION', EVENTS.watchRegistered.id]],
    'watch registers the event source with its first event',
  );

  const again = await kerio(img, ['watch', '--answers', answers, '--yes']);
  succeeded(tt, again, 'watch again');
  tt.equal(again.json.changed, false, 'the same settings change nothing');
  tt.equal(again.json.backup, null, 'and make no backup');
  tt.notOk(
    again.json.commands.some((c: { program: string; args: string[] }) => c.program.endsWith('schtasks.exe') && c.args[0] === '/Create'),
    'and register nothing',
  );

  await kerioUpgrade(tt, img);
  tt.equal((await kerio(img, ['status', '--answers', answers])).code, 6, 'after the upgrade, DCC is off');
  const repair = await runTask(img, { TZ: 'UTC' });
  tt.equal(repair.code, 0, 'the task repairs it', { stderr: repair.stderr });
  const after = await kerio(img, ['status', '--answers', answers]);
  tt.equal(after.code, 0, 'status: DCC is on again');
  const watched = after.json.data.checks.find((c: { id: string }) => c.id === 'watch');
  tt.match(
    watched,
    { ok: true, detail: new RegExp(`^yes \\(\\\\kerio-dcc\\\\repair\\), last run \\d{4}-.*, last result: repaired \\(backup \\d{8}T\\d{6}Z`) },
    'status: watched: yes, last run, last result',
  );
  const s2 = await state(img);
  tt.equal(s2.services['KerioMailServer']!.state, 4, 'Kerio runs');
  const warning = s2.events!.filter((e) => e.type === 'WARNING');
  tt.same(
    warning.map((e) => e.id),
    [EVENTS.repaired.id],
    'one warning event: DCC was off and is repaired',
  );
  tt.match(
    warning[0]!.description,
    /found DCC off on .* and repaired it\. Drifted: kerio-dcc block in local\.cf .*DCC plugin loaded .*Backup \d{8}T\d{6}Z/,
    'naming the server, what drifted and the backup id',
  );
  const repairLine = (await logLines(img)).find((l) => l[1] === 'watch --run --simulate');
  tt.match(
    repairLine,
    [/^\d{4}-\d\d-\d\dT/, 'watch --run --simulate', 'repaired', '0', /^\d{8}T\d{6}Z(-\d+)?$/, /repaired/],
    'the log line: time, command, outcome, exit code, backup id',
  );

  const rules = await hashTree(rulesHost(img));
  const second = await runTask(img, { TZ: 'UTC' });
  tt.equal(second.code, 0, 'a second run exits 0');
  tt.same(await hashTree(rulesHost(img)), rules, 'and changes nothing');
  const s3 = await state(img);
  tt.same(s3.events!.filter((e) => e.type === 'WARNING').length, 1, 'and writes no warning');
  tt.same(s3.events!.filter((e) => e.id === EVENTS.allOn.id).length, 1, 'an information event that all is on');
  await runTask(img, { TZ: 'UTC' });
  tt.same((await state(img)).events!.filter((e) => e.id === EVENTS.allOn.id).length, 1, 'at most once a day');
  tt.same(
    (await logLines(img)).filter((l) => l[1] === 'watch --run --simulate').map((l) => l[2]),
    ['repaired', 'on', 'on'],
    'every run has its log line',
  );
});

function hhmm(d: Date): string {
  return `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
}

t.test('the restart policy: outside the window or with never, DCC is reported off and nothing changes; inside the window it is repaired', async (tt) => {
  const now = Date.now();
  const outside = `${hhmm(new Date(now + 2 * 3600_000))}-${hhmm(new Date(now + 3 * 3600_000))}`;
  const inside = `${hhmm(new Date(now - 3600_000))}-${hhmm(new Date(now + 3600_000))}`;
  for (const [policy, expectRepair] of [
    [`restart = window\nwindow = ${outside}`, false],
    ['restart = never', false],
    [`restart = window\nwindow = ${inside}`, true],
  ] as const) {
    const answers = await answersFile(tt, `${SHORT}[watch]\n${policy}\n`);
    const img = await watchedImage(tt, answers);
    tt.equal(
      /<CalendarTrigger>/.test((await state(img)).tasks![TASK_NAME.toLowerCase()]!.xml),
      policy.includes('window'),
      `${policy.split('\n')[0]}: a daily run at the window's start`,
    );
    await kerioUpgrade(tt, img);
    const rules = await hashTree(rulesHost(img));
    const run = await runTask(img, { TZ: 'UTC' });
    const events = (await state(img)).events!;
    if (expectRepair) {
      tt.equal(run.code, 0, `${policy}: repaired`, { stderr: run.stderr });
      tt.ok(
        events.some((e) => e.id === EVENTS.repaired.id),
        'with the warning event',
      );
    } else {
      tt.equal(run.code, 6, `${policy}: exit 6`);
      tt.same(await hashTree(rulesHost(img)), rules, 'nothing changed');
      const error = events.find((e) => e.id === EVENTS.restartNotAllowed.id);
      tt.match(
        error,
        { type: 'ERROR', description: policy.includes('never') ? /restart = never/ : new RegExp(`only between ${outside}`) },
        'the error event says why',
      );
      tt.equal((await state(img)).services['KerioMailServer']!.state, 4, 'Kerio was not restarted');
    }
  }
});

t.test('a broken answers file in the state folder: the task logs it, raises the error event, changes nothing and exits 2', async (tt) => {
  const answers = await answersFile(tt, SHORT);
  const img = await watchedImage(tt, answers);
  await kerioUpgrade(tt, img);
  await writeFile(inImage(img.root, ANSWERS_COPY), '[service]\ntimeout_seconds = soon\n');
  const before = await hashTree(rulesHost(img));
  const run = await runTask(img);
  tt.equal(run.code, 2, 'exit 2');
  tt.match(run.stderr, /service\.timeout_seconds \(line 2\): "soon" is not a whole number/, 'the answers problem on stderr');
  tt.same(await hashTree(rulesHost(img)), before, 'nothing changed');
  const error = (await state(img)).events!.find((e) => e.id === EVENTS.answersBroken.id);
  tt.match(
    error,
    { type: 'ERROR', source: 'kerio-dcc', description: /answers file of the scheduled repair cannot be used[\s\S]*timeout_seconds/ },
    'the error event',
  );
  tt.match((await logLines(img)).pop(), [/./, 'watch --run --simulate', 'broken-answers', '2', '-', /timeout_seconds/], 'the log line');
  tt.equal(
    JSON.parse(await readFile(inImage(img.root, LAST_RUN), 'utf8').catch(() => '{"outcome":"none"}')).outcome,
    'none',
    'last-run.json is not written from a state folder not yet checked',
  );
});

t.test('watch --remove and uninstall leave no task behind; rollback brings it back', async (tt) => {
  const answers = await answersFile(tt, SHORT);
  const img = await watchedImage(tt, answers);
  const removed = await kerio(img, ['watch', '--remove', '--yes']);
  succeeded(tt, removed, 'watch --remove');
  tt.same((await state(img)).tasks, {}, 'no task');
  tt.same(await readdir(inImage(img.root, 'C:\\ProgramData\\kerio-dcc')).then((n) => n.includes('watch')), false, 'and no watch folder');
  tt.equal((await kerio(img, ['watch', '--remove', '--yes'])).json.changed, false, 'a second --remove changes nothing');
  succeeded(tt, await kerio(img, ['rollback', '--yes']), 'rollback of the removal');
  tt.ok((await state(img)).tasks?.[TASK_NAME.toLowerCase()], 'the task is back');
  tt.ok(await readFile(inImage(img.root, TASK_FILE)), 'with its file');

  const uninstall = await kerio(img, ['uninstall', '--yes']);
  succeeded(tt, uninstall, 'uninstall');
  tt.equal(uninstall.json.steps[2].id, 'watch', 'uninstall takes the watch out before anything else');
  tt.same((await state(img)).tasks, {}, 'uninstall leaves no task');
  const status = await kerio(img, ['status']);
  tt.match(
    status.json.data.checks.find((c: { id: string }) => c.id === 'watch'),
    { ok: null, detail: /^no / },
    'status: not watched',
  );
  succeeded(tt, await kerio(img, ['rollback', '--yes']), 'rollback of the uninstall');
  tt.ok((await state(img)).tasks?.[TASK_NAME.toLowerCase()], 'puts the task back too');
});

t.test('watch needs an answers file and a system; a dry run registers nothing', async (tt) => {
  const img = await makeImage(tt);
  const noAnswers = await kerio(img, ['watch', '--yes']);
  tt.equal(noAnswers.code, 2, 'no --answers: exit 2');
  tt.match(noAnswers.json.error.message, /needs the answers file/);
  const answers = await answersFile(tt, SHORT);
  const image = await runCli(['watch', '--answers', answers, '--root', img.root, '--yes', '--json']);
  tt.equal(image.code, 3, 'an image without --simulate: exit 3');
  await saveSimState(inImage(img.root, SIMULATED_STATE_PATH), withStateFolderSecured(await simState(img)));
  const dry = await kerio(img, ['watch', '--answers', answers, '--dry-run']);
  tt.equal(dry.code, 0);
  tt.equal(dry.json.steps.find((s: { id: string }) => s.id === 'watch').status, 'would-change');
  tt.same((await simState(img)).tasks ?? {}, {}, 'a dry run registers nothing');
  tt.notOk(
    dry.json.commands.some((c: { mutates: boolean }) => c.mutates),
    'and runs no changing command',
  );
});

t.test('--log FILE appends the run line for any command; the daily logs keep [log] keep_days', async (tt) => {
  const img = await makeImage(tt);
  const dir = await tempDir(tt);
  const file = path.join(dir, 'run log.txt');
  const status = await kerio(img, ['status', '--log', file]);
  tt.equal(status.code, 6);
  const line = (await readFile(file, 'utf8')).split('\t');
  tt.same(line.slice(1, 4), ['status --simulate', 'drift', '6'], 'status, drift, exit 6');
  const answers = await answersFile(tt, `${SHORT}[log]\nkeep_days = 2\n`);
  await saveSimState(inImage(img.root, SIMULATED_STATE_PATH), withStateFolderSecured(await simState(img)));
  const logs = inImage(img.root, LOGS);
  const { mkdir } = await import('node:fs/promises');
  await mkdir(logs, { recursive: true });
  const today = new Date();
  const day = (n: number) => new Date(today.getTime() - n * 86_400_000).toISOString().slice(0, 10);
  for (const n of [1, 2, 5]) await writeFile(path.join(logs, `kerio-dcc-${day(n)}.log`), 'old\r\n');
  await writeFile(path.join(logs, 'notes.txt'), 'mine');
  succeeded(tt, await kerio(img, ['install', '--answers', answers, '--yes']), 'install');
  tt.same((await readdir(logs)).sort(), [`kerio-dcc-${day(1)}.log`, `kerio-dcc-${day(0)}.log`, 'notes.txt'].sort(), 'two days kept, other files left alone');
});

t.test('watch with other settings replaces the task, backed up; rollback registers the old one again', async (tt) => {
  const answers = await answersFile(tt, SHORT);
  const img = await watchedImage(tt, answers);
  const taskXmlNow = async () => (await state(img)).tasks![TASK_NAME.toLowerCase()]!.xml;
  tt.match(await taskXmlNow(), '<Interval>PT4H</Interval>');
  const six = await answersFile(tt, `${SHORT}[watch]\ninterval_hours = 6\n`);
  const replaced = await kerio(img, ['watch', '--answers', six, '--yes']);
  succeeded(tt, replaced, 'watch with interval_hours = 6');
  tt.match(
    replaced.json.steps.find((s: { id: string }) => s.id === 'watch').detail,
    /copy the answers .* \(replacing the copy there\); replace the scheduled task/,
  );
  tt.match(await taskXmlNow(), '<Interval>PT6H</Interval>', 'the task runs every 6 hours now');
  tt.same(await readFile(inImage(img.root, ANSWERS_COPY)), await readFile(six), 'with the new answers');
  succeeded(tt, await kerio(img, ['rollback', '--yes']), 'rollback');
  tt.match(await taskXmlNow(), '<Interval>PT4H</Interval>', 'the old task is registered again');
  tt.same(await readFile(inImage(img.root, ANSWERS_COPY)), await readFile(answers), 'with the old answers');

  // A task deleted by hand (schtasks /Delete) is registered again by the next watch.
  const s = await state(img);
  s.tasks = {};
  await saveSimState(inImage(img.root, SIMULATED_STATE_PATH), s);
  const status = await kerio(img, ['status', '--answers', answers]);
  tt.match(
    status.json.data.checks.find((c: { id: string }) => c.id === 'watch'),
    { ok: false, detail: /is gone/ },
    'status reports the missing task',
  );
  const again = await kerio(img, ['watch', '--answers', answers, '--yes']);
  succeeded(tt, again, 'watch again');
  tt.match(again.json.steps.find((s: { id: string }) => s.id === 'watch').detail, /^register the scheduled task/);
  tt.ok((await state(img)).tasks?.[TASK_NAME.toLowerCase()], 'registered again');
});

t.test('a repair that fails (Kerio will not start again) is restored, exits 4 and raises the error event', async (tt) => {
  const answers = await answersFile(tt, SHORT);
  const img = await watchedImage(tt, answers);
  await kerioUpgrade(tt, img);
  const upgraded = await hashTree(rulesHost(img));
  const s = await state(img);
  s.services['KerioMailServer']!.startFails = 1;
  await saveSimState(inImage(img.root, SIMULATED_STATE_PATH), s);
  const run = await runTask(img);
  tt.equal(run.code, 4, 'exit 4: restored from its backup');
  tt.same(await hashTree(rulesHost(img)), upgraded, 'the rules folder is as the upgrade left it');
  const events = (await state(img)).events!;
  tt.match(
    events.find((e) => e.id === EVENTS.repairFailed.id),
    { type: 'ERROR', description: /could not repair DCC .*Kerio|could not repair DCC/ },
    'the error event',
  );
  tt.notOk(
    events.some((e) => e.id === EVENTS.repaired.id),
    'and no "repaired" warning',
  );
  tt.match(
    (await logLines(img)).pop(),
    [/./, 'watch --run --simulate', 'failed', '4', '-', /restored from the backup C:\\ProgramData\\kerio-dcc\\backups\\\d{8}T\d{6}Z/],
    'the log line says which backup it was restored from',
  );
  const status = await kerio(img, ['status', '--answers', answers]);
  tt.match(status.json.data.checks.find((c: { id: string }) => c.id === 'watch').detail, /last result: failed/, 'status shows the last result');
});
