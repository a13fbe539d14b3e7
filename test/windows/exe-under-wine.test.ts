// The Windows smoke run: dist/kerio-dcc.exe (npm run build:exe) on a fresh Wine prefix set to
// Windows 10. Files, paths, %ProgramFiles(x86)% and SysWOW64 are Windows' own here; sc, netsh
// and net are the simulation (Wine's are stubs). Run with `npm run test:windows`.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { stopwatch } from '../helpers/stopwatch.js';
import { buildImage } from '../../src/demo/image.js';
import { TerminalSession } from '../helpers/windows/terminal.js';
import { cmdWord, findOnPath, WinePrefix, wineMissingReason } from '../helpers/windows/wine.js';
import { buildExeIfNeeded, EXE, runExe, type ExeRun } from '../helpers/windows/exe.js';
import { withStateFolderSecured } from '../../src/system/simulated/acl.js';

const PROJECT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const VERSION = (JSON.parse(await readFile(path.join(PROJECT, 'package.json'), 'utf8')) as { version: string }).version;

const TOOL_DIR = 'C:\\Program Files\\kerio-dcc';
const TOOL = `${TOOL_DIR}\\kerio-dcc.exe`;
const WORK = 'C:\\kerio-dcc-smoke';
const KERIO = 'C:\\Program Files (x86)\\Kerio\\MailServer';
const RULES = `${KERIO}\\plugins\\spamassassin\\rules`;
const DCC_MAP = 'C:\\sa\\etc\\dcc\\map';
const WOW64_PROFILE = 'C:\\Windows\\SysWOW64\\config\\systemprofile\\.spamassassin';
const SYSTEM32_PROFILE = 'C:\\Windows\\System32\\config\\systemprofile\\.spamassassin';
const SIMULATED_STATE = 'C:\\ProgramData\\kerio-dcc\\simulated-system.json';
/** The answers file the prompt offers to save, in the working folder. */
const ANSWERS_SAVED = 'kerio-dcc-answers.ini';

t.setTimeout(15 * 60 * 1000);
const skipReason = wineMissingReason() ?? buildExeIfNeeded();
if (skipReason !== null) {
  t.plan(0, skipReason);
} else {
  await smokeRun();
}

async function smokeRun(): Promise<void> {
  const { timings, timed } = stopwatch();
  const wine = await timed('wine prefix (wineboot, Windows 10)', () => WinePrefix.create());
  t.teardown(async () => {
    await wine.dispose();
    t.comment(`timings: ${timings.join('; ')}`);
  });

  const staging = await mkdtemp(path.join(os.tmpdir(), 'kerio-dcc-image-'));
  t.teardown(() => rm(staging, { recursive: true, force: true }));
  await timed('lay out Kerio x86 and DCC in the prefix', async () => {
    await buildImage(staging, { windows64: true, kerioBitness: 'x86', eol: 'crlf' });
    await wine.mergeIntoDriveC(staging);
  });

  let runs = 0;
  /** Where one run's batch file and output go: C:\\kerio-dcc-smoke\\run-N.* */
  const nextRun = () => `${WORK}\\run-${++runs}`;
  /** Runs kerio-dcc.exe from cmd.exe, as an administrator would, and reads %ERRORLEVEL% after it. */
  const exe = (args: string[]): Promise<ExeRun> => runExe(wine, TOOL, WORK, nextRun(), args);
  /** What the run printed, shown by tap only when an assertion fails. */
  const seen = (run: ExeRun) => ({ stdout: run.stdout, stderr: run.stderr });

  await timed('copy kerio-dcc.exe into C:\\Program Files\\kerio-dcc', async () => {
    const host = await wine.hostPath(TOOL);
    await mkdir(path.dirname(host), { recursive: true });
    await copyFile(EXE, host);
  });

  const rulesBefore = await snapshot(await wine.hostPath(RULES));
  const mapBytes = await readFile(await wine.hostPath(DCC_MAP));

  await timed('smoke run', async () => {
    await t.test('kerio-dcc.exe --version prints the package version and exits 0', async (t) => {
      const run = await exe(['--version']);
      t.equal(run.errorlevel, 0, '%ERRORLEVEL% is 0', seen(run));
      t.equal(run.stdout.trim(), VERSION);
    });

    await t.test('kerio-dcc.exe --help lists the commands and exits 0', async (t) => {
      const run = await exe(['--help']);
      t.equal(run.errorlevel, 0, '%ERRORLEVEL% is 0', seen(run));
      t.match(run.stdout, /Usage: kerio-dcc <command>/);
      t.match(run.stdout, /^\s+install\s/m);
      t.match(run.stdout, /^\s+rollback\s/m);
    });

    await t.test('a wrong option is a usage error: exit 2 as Windows sees it', async (t) => {
      const run = await exe(['install', '--no-such-option']);
      t.equal(run.errorlevel, 2, '%ERRORLEVEL% is 2', seen(run));
      t.match(run.stderr, /no-such-option/);
    });

    await t.test('the answers template built into the exe is the one in templates/, with Windows line endings', async (t) => {
      const run = await exe(['answers']);
      t.equal(run.errorlevel, 0, '%ERRORLEVEL% is 0', seen(run));
      const template = await readFile(path.join(PROJECT, 'templates', 'answers.ini'), 'utf8');
      t.equal(run.stdout, template.replace(/\r?\n/g, '\r\n'), 'CRLF, so that Notepad on older servers shows its lines');
    });

    await t.test('when the service names no program, install finds Kerio through %ProgramFiles(x86)%', async (t) => {
      const stateFile = await wine.hostPath(SIMULATED_STATE);
      await mkdir(path.dirname(stateFile), { recursive: true });
      const service = { state: 4, binaryPath: '', startName: 'LocalSystem', stopHangs: false, startFails: false };
      // The simulation's state makes the state folder: as kerio-dcc would have made it, restricted to administrators.
      await writeFile(
        stateFile,
        JSON.stringify(withStateFolderSecured({ schema: 1, elevated: true, language: 'en', services: { KerioMailServer: service }, firewall: [] })),
      );
      // The folder goes with the file: left behind with no record of being secured, it would be refused.
      t.teardown(() => rm(path.dirname(stateFile), { recursive: true, force: true }));
      const run = await exe(['install', '--simulate', '--dry-run', '--json']);
      t.equal(run.errorlevel, 0, '%ERRORLEVEL% is 0', seen(run));
      const locate = run.json?.steps?.find((s: { id: string }) => s.id === 'locate');
      t.match(locate?.detail, `found at ${KERIO}`);
      t.same(await snapshot(await wine.hostPath(RULES)), rulesBefore, 'a dry run changes nothing');
    });

    await t.test('status before install reports drift with exit 6', async (t) => {
      const run = await exe(['status', '--simulate', '--json']);
      t.equal(run.errorlevel, 6, '%ERRORLEVEL% is 6', seen(run));
      t.equal(run.json?.ok, false);
      t.equal(run.json?.exitCode, 6);
    });

    await t.test('install on the live C: drive finds the 32-bit Kerio and turns DCC on', async (t) => {
      const run = await exe(['install', '--simulate', '--yes', '--json']);
      t.equal(run.errorlevel, 0, '%ERRORLEVEL% is 0', seen(run));
      const report = run.json;
      t.ok(report, 'stdout is one JSON object');
      t.equal(report.schema, 1);
      t.equal(report.command, 'install');
      t.equal(report.ok, true);
      t.equal(report.changed, true);
      t.equal(report.simulated, true);
      t.equal(report.target, 'the live system');
      t.match(report.backup, /^C:\\ProgramData\\kerio-dcc\\backups\\/i);
      t.notOk(
        report.steps.some((s: { status: string }) => s.status === 'failed'),
        'no step failed',
      );
      t.ok(
        report.commands.some((c: { program: string }) => /\\sc\.exe$/i.test(c.program)),
        'sc.exe was called by absolute path',
      );

      const copied = await readFile(await wine.hostPath(`${WOW64_PROFILE}\\map`));
      t.ok(copied.equals(mapBytes), `the map in ${WOW64_PROFILE} is a byte copy of ${DCC_MAP}`);
      t.notOk(existsSync(await wine.hostPath(SYSTEM32_PROFILE)), 'nothing went to the 64-bit profile');

      const localCf = await readFile(await wine.hostPath(`${RULES}\\local.cf`), 'latin1');
      t.match(localCf, /^dcc_path\s+C:\\sa\\dccproc\.exe\r?$/im, 'dcc_path is a Windows path with backslashes');
      t.match(localCf, /^dcc_home\s+C:\\sa\\etc\\dcc\r?$/im, 'dcc_home is a Windows path with backslashes');
      const state = JSON.parse(await readFile(await wine.hostPath(SIMULATED_STATE), 'utf8'));
      t.equal(state.firewall.length, 2, `the simulated firewall in ${SIMULATED_STATE} has the two DCC rules`);
    });

    await t.test('status after install finds DCC on and exits 0', async (t) => {
      const run = await exe(['status', '--simulate', '--json']);
      t.equal(run.errorlevel, 0, '%ERRORLEVEL% is 0', seen(run));
      t.equal(run.json?.ok, true);
    });

    await t.test('a second install changes nothing and exits 0', async (t) => {
      const run = await exe(['install', '--simulate', '--yes', '--json']);
      t.equal(run.errorlevel, 0, '%ERRORLEVEL% is 0', seen(run));
      t.equal(run.json?.ok, true);
      t.equal(run.json?.changed, false);
      t.equal(run.json?.backup, null, 'no backup for a run that changes nothing');
    });

    await t.test('rollback restores the rules folder byte for byte', async (t) => {
      const run = await exe(['rollback', '--simulate', '--yes', '--json']);
      t.equal(run.errorlevel, 0, '%ERRORLEVEL% is 0', seen(run));
      t.equal(run.json?.ok, true);
      t.equal(run.json?.changed, true);
      t.same(await snapshot(await wine.hostPath(RULES)), rulesBefore);
      const after = await exe(['status', '--simulate', '--json']);
      t.equal(after.errorlevel, 6, 'status finds DCC off again', seen(after));
    });

    await t.test('backups lists the install and the rollback, newest first, and verifies them', async (t) => {
      // --simulate: the backups folder's permissions are read with PowerShell, which Wine does
      // not have (its powershell.exe prints nothing); the simulation answers Get-Acl instead.
      const run = await exe(['backups', '--verify', '--simulate', '--json']);
      t.equal(run.errorlevel, 0, '%ERRORLEVEL% is 0', seen(run));
      const backups: { command: string; path: string; problems: unknown }[] = run.json?.data?.backups ?? [];
      t.same(
        backups.map((b) => b.command),
        ['rollback', 'install'],
      );
      t.ok(
        backups.every((b) => /^C:\\ProgramData\\kerio-dcc\\backups\\\d{8}T\d{6}Z(-\d+)?$/.test(b.path)),
        'each backup is a folder in C:\\ProgramData\\kerio-dcc\\backups',
      );
      t.ok(
        backups.every((b) => Array.isArray(b.problems) && b.problems.length === 0),
        'each was verified: every copy matches its sha256',
      );
    });

    await t.test('without administrator rights install refuses with exit 3 and changes nothing', async (t) => {
      const stateFile = await wine.hostPath(SIMULATED_STATE);
      const state = JSON.parse(await readFile(stateFile, 'utf8'));
      await writeFile(stateFile, JSON.stringify({ ...state, elevated: false }));
      t.teardown(() => writeFile(stateFile, JSON.stringify(state)));
      const run = await exe(['install', '--simulate', '--yes', '--json']);
      t.equal(run.errorlevel, 3, '%ERRORLEVEL% is 3', seen(run));
      t.equal(run.json?.exitCode, 3);
      t.match(run.json?.error?.message, /administrator/);
      t.same(await snapshot(await wine.hostPath(RULES)), rulesBefore, 'the rules folder is untouched');
    });

    const noTerminal = findOnPath('tmux') === null ? "tmux not found on PATH: install Debian's tmux package to check the prompts inside the exe" : false;
    await t.test('on a terminal, install asks before it changes anything and takes the answers typed', { skip: noTerminal }, async (t) => {
      // Prompts are for people: the tool keeps quiet when CI=true, so the terminal run leaves it out.
      const env = { ...wine.env };
      delete env['CI'];
      const socketDir = await mkdtemp(path.join(os.tmpdir(), 'kerio-dcc-tty-'));
      const base = nextRun();
      // The exe's input and output stay the terminal; only its exit code goes to a file.
      await wine.writeBatch(`${base}.cmd`, [
        `cd /d ${cmdWord(WORK)}`,
        [TOOL, 'install', '--simulate'].map(cmdWord).join(' '),
        `>${cmdWord(`${base}.code`)} echo %ERRORLEVEL%`,
      ]);
      const term = await TerminalSession.start(['wine', 'cmd', '/c', `${base}.cmd`], { env, cwd: await wine.hostPath(WORK), configDir: socketDir });
      t.teardown(async () => {
        term.close();
        await rm(socketDir, { recursive: true, force: true });
      });
      await term.waitFor(/Apply these changes\?/);
      t.notOk(existsSync(await wine.hostPath(`${WOW64_PROFILE}\\map`)), 'nothing is changed while the question waits');
      term.send('y', 'Enter');
      await term.waitFor(/Save the answers used/);
      term.send('y', 'Enter');
      await term.waitFor(/Save them to:/);
      term.send('Enter');
      const code = await term.waitForFile(await wine.hostPath(`${base}.code`));
      t.equal(code.trim(), '0', '%ERRORLEVEL% is 0', { screen: term.screen() });
      t.match(term.screen(), /DCC is on\./);
      t.ok(existsSync(await wine.hostPath(`${WOW64_PROFILE}\\map`)), 'the answer "y" applied the plan');

      const replay = await exe(['install', '--answers', ANSWERS_SAVED, '--simulate', '--yes', '--json']);
      t.equal(replay.errorlevel, 0, `the answers saved at the prompt (${ANSWERS_SAVED}) replay unattended`, seen(replay));
      t.equal(replay.json?.changed, false, 'and find nothing to change');
    });

    await t.test('the demo runs inside the exe on a Windows temp folder', async (t) => {
      const run = await exe(['demo', '--json']);
      t.equal(run.errorlevel, 0, '%ERRORLEVEL% is 0', seen(run));
      t.equal(run.json?.ok, true);
      t.match(run.json?.data?.image, /^C:\\.+\\kerio-dcc-demo-[^\\]+$/i, 'the image is a Windows path');
    });

    await t.test('the runs left nothing but their own output in the working folder', async (t) => {
      const names = await readdir(await wine.hostPath(WORK));
      t.same(
        names.filter((n) => !/^run-\d+\.(cmd|out|err|code)$/.test(n) && n !== ANSWERS_SAVED),
        [],
        'no file named after a mangled path',
      );
    });
  });
}

/** Every file of a folder, by name, with the sha256 of its bytes. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort())
    out[name] = createHash('sha256')
      .update(await readFile(path.join(dir, name)))
      .digest('hex');
  return out;
}
