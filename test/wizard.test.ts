import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { buildContext } from '../src/cli/context.js';
import { InterruptedError } from '../src/errors.js';
import { decodePowershell } from '../src/windows/powershell.js';
import { FIREWALL_RULES_KIND } from '../src/windows/firewallPowershell.js';
import type { Prompter } from '../src/model/context.js';
import { newReport, type Report } from '../src/model/report.js';
import { runInstall } from '../src/commands/install.js';
import { demoMapBytes, type Image } from '../src/demo/image.js';
import type { RunContext } from '../src/model/context.js';
import { KerioDccError } from '../src/errors.js';
import { hashTree, inImage, makeImage, runCli, tempDir } from './helpers/cli.js';
import { withStateFolderSecured } from '../src/system/simulated/acl.js';
import { linuxDcc, linuxDccMissing, windowsDcc, windowsDccMissing } from './helpers/realDcc.js';

const SYSWOW64_MAP = 'C:\\Windows\\SysWOW64\\config\\systemprofile\\.spamassassin\\map';
const SYSTEM32_PROFILE = 'C:\\Windows\\System32\\config\\systemprofile\\.spamassassin';
const BACKUPS = 'C:\\ProgramData\\kerio-dcc\\backups';
const SIM_STATE = 'C:\\ProgramData\\kerio-dcc\\simulated-system.json';
const CONFIRM = 'Apply these changes?';
const SAVE_OFFER = 'Save the answers used, to run the same setup unattended on the next server?';
const SAVE_TO = 'Save them to:';

/** Pressing Ctrl-C at a prompt, in a script. */
const CTRL_C = Symbol('Ctrl-C');
/** Something that happens while a yes/no question is on screen, then the answer given. */
interface Meanwhile {
  meanwhile: () => Promise<void>;
  answer: boolean;
}
type Keystrokes = string | boolean | typeof CTRL_C | Meanwhile;

interface Question {
  kind: 'input' | 'confirm';
  message: string;
  defaultValue: string | boolean;
  /** What validation said about each refused entry, in order. */
  refusals: string[];
  /** What the tool printed on stdout since the previous question (or the start). */
  shownBefore: string;
}

/**
 * Replays an administrator's answers. Like inquirer, an empty entry takes the default,
 * every entry goes through `validate`, and a refused entry is followed by the next
 * scripted one at the same question. A question the script did not foresee fails the test.
 */
class ScriptedPrompter implements Prompter {
  readonly questions: Question[] = [];
  private readonly script: Keystrokes[];

  /** @param printed the run's stdout so far, appended to as the run prints */
  constructor(
    script: Keystrokes[],
    private readonly printed: string[],
  ) {
    this.script = [...script];
  }

  private printedSinceLastQuestion(): string {
    return this.printed.splice(0).join('');
  }

  get unused(): Keystrokes[] {
    return this.script;
  }

  private next(message: string): Keystrokes {
    if (this.script.length === 0) throw new Error(`unscripted question: ${message}`);
    const entry = this.script.shift()!;
    if (entry === CTRL_C) throw new InterruptedError();
    return entry;
  }

  async input(message: string, defaultValue: string, validate: (value: string) => Promise<true | string>): Promise<string> {
    const question: Question = { kind: 'input', message, defaultValue, refusals: [], shownBefore: this.printedSinceLastQuestion() };
    this.questions.push(question);
    for (;;) {
      const entry = this.next(message);
      if (typeof entry !== 'string') throw new Error(`the script answers "${message}" with ${String(entry)}, not text`);
      const value = entry === '' ? defaultValue : entry;
      const verdict = await validate(value);
      if (verdict === true) return value;
      question.refusals.push(verdict);
    }
  }

  async confirm(message: string, defaultValue: boolean): Promise<boolean> {
    this.questions.push({ kind: 'confirm', message, defaultValue, refusals: [], shownBefore: this.printedSinceLastQuestion() });
    let entry = this.next(message);
    if (typeof entry === 'object') {
      await entry.meanwhile();
      entry = entry.answer;
    }
    if (typeof entry !== 'boolean') throw new Error(`the script answers "${message}" with "${String(entry)}", not yes/no`);
    return entry;
  }
}

interface WizardRun {
  ctx: RunContext;
  report: Report;
  prompter: ScriptedPrompter;
  /** The error runInstall threw, or null. */
  error: unknown;
  /** stdout printed after the last question. */
  shownAfter: string;
}

/**
 * Runs `kerio-dcc install` in process as on a terminal, answering from the script. What it
 * prints is kept (runInstall writes the summary and plan to stdout) so tests can check
 * what the administrator saw before each question, and so it does not interleave with TAP.
 */
async function wizard(values: Record<string, string | boolean>, script: Keystrokes[], options: { saveAnswersTo?: string } = {}): Promise<WizardRun> {
  const ctx = await buildContext({ name: 'install', values, positionals: [] });
  const printed: string[] = [];
  const prompter = new ScriptedPrompter(script, printed);
  ctx.ui.prompter = prompter;
  Object.assign(ctx.ui, { info: () => undefined, warn: () => undefined, progress: null });
  const report = newReport('install');
  let error: unknown = null;
  const realWrite = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array) => printed.push(String(chunk)) > 0) as typeof process.stdout.write;
  try {
    await runInstall(ctx, report, options);
  } catch (err) {
    error = err;
  } finally {
    process.stdout.write = realWrite;
  }
  return { ctx, report, prompter, error, shownAfter: printed.join('') };
}

function messages(run: WizardRun): string[] {
  return run.prompter.questions.map((q) => q.message);
}

function succeeded(t: Test, run: WizardRun): void {
  t.equal(run.error, null, 'runInstall did not throw', { error: run.error instanceof Error ? run.error.stack : run.error });
  t.same(run.prompter.unused, [], 'every scripted answer was used');
}

async function readWin(image: Image, winPath: string): Promise<Buffer> {
  return readFile(inImage(image.root, winPath));
}

async function localCfLines(image: Image): Promise<string[]> {
  return (await readWin(image, `${image.rulesDir}\\local.cf`)).toString('latin1').split(/\r?\n/);
}

async function moveWin(image: Image, from: string, to: string): Promise<void> {
  await mkdir(path.dirname(inImage(image.root, to)), { recursive: true });
  await rename(inImage(image.root, from), inImage(image.root, to));
}

/** Files (not folders) that differ: a run through the CLI leaves its empty backups folder, where its lock was. */
function changedFiles(before: Record<string, string>, after: Record<string, string>): string[] {
  return [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => !k.endsWith(path.sep) && before[k] !== after[k]).sort();
}

async function backupsIn(image: Image): Promise<string[]> {
  return readdir(inImage(image.root, BACKUPS)).catch(() => []);
}

/** A server where DCC was unpacked to C:\DCC\bin instead of C:\sa: dccproc is not where local.cf's default says. */
async function imageWithDccprocMoved(t: Test): Promise<Image> {
  const image = await makeImage(t);
  await moveWin(image, 'C:\\sa\\dccproc.exe', 'C:\\DCC\\bin\\dccproc.exe');
  return image;
}

t.test('on a complete server only the confirmation is asked, and "no" changes nothing at all', async (t) => {
  const image = await makeImage(t);
  const before = await hashTree(image.root);
  const run = await wizard({ root: image.root, simulate: true }, [false]);
  succeeded(t, run);
  t.same(
    run.prompter.questions.map((q) => [q.kind, q.message, q.defaultValue]),
    [['confirm', CONFIRM, false]],
    'one question, defaulting to no; no save offer after a refusal',
  );
  const shown = run.prompter.questions[0]!.shownBefore;
  t.match(
    shown,
    "Kerio Connect   C:\\Program Files (x86)\\Kerio\\MailServer (the KerioMailServer service's program path (sc qc))",
    'the summary says where Kerio is and how that was found',
  );
  t.match(shown, 'Kerio build     32-bit; Windows 64-bit');
  t.match(shown, 'profile folder  C:\\Windows\\SysWOW64\\config\\systemprofile\\.spamassassin');
  t.match(shown, '"Kerio DCC (UDP 6277 out)": 0 found');
  t.match(shown, 'service         KerioMailServer: RUNNING');
  t.match(shown, /^ +-score DCC_CHECK 0\r?$/m, 'the plan with its diffs is shown before the question');
  t.ok(shown.indexOf('Detected:') >= 0 && shown.indexOf('Detected:') < shown.indexOf('will change'), 'the summary comes before the plan');
  t.equal(run.report.summary, 'Nothing changed.');
  // Detected once (issue 15): the questions, the summary and the plan share one reading of the server.
  const records = run.ctx.runner!.records;
  t.equal(records.filter((r) => /sc\.exe$/i.test(r.program) && r.args[0] === 'qc').length, 1, 'sc qc asked once');
  t.equal(records.filter((r) => decodePowershell(r.args)?.kind === FIREWALL_RULES_KIND).length, 1, 'the firewall rules read once');
  t.equal(run.report.changed, false);
  t.equal(run.report.backup, null);
  t.same(await backupsIn(image), [], 'no backup was written');
  t.same(await hashTree(image.root), before, 'every file of the image is byte-identical');
});

t.test('on a complete server "yes" applies the plan, then offers to save the answers (default no)', async (t) => {
  const image = await makeImage(t);
  const run = await wizard({ root: image.root, simulate: true }, [true, false]);
  succeeded(t, run);
  t.same(
    run.prompter.questions.map((q) => [q.message, q.defaultValue]),
    [
      [CONFIRM, false],
      [SAVE_OFFER, false],
    ],
  );
  t.equal(run.report.changed, true);
  t.match(run.report.summary, /^DCC is on\.$/, 'nothing about saved answers when they were not saved');
  t.equal((await backupsIn(image)).length, 1, 'one backup');
  t.ok((await localCfLines(image)).includes('dcc_path C:\\sa\\dccproc.exe'));
});

t.test('local.cf edited while the plan is on screen: "yes" stops with exit 3 before any change, and the edit is kept', async (t) => {
  const image = await makeImage(t);
  const localCf = inImage(image.root, `${image.rulesDir}\\local.cf`);
  let edited: Buffer | null = null;
  const editLocalCf = async () => {
    // Another administrator, or Kerio's own web UI, saves local.cf while this one reads the diff.
    edited = Buffer.concat([await readFile(localCf), Buffer.from('score URIBL_BLACK 3.0\r\n', 'latin1')]);
    await writeFile(localCf, edited);
  };
  const before = await hashTree(image.root);
  const run = await wizard({ root: image.root, simulate: true }, [{ meanwhile: editLocalCf, answer: true }]);
  t.type(run.error, KerioDccError);
  t.equal((run.error as KerioDccError).exitCode, 3, 'exit code 3 (precondition): nothing was changed');
  t.match((run.error as Error).message, /rules\\local\.cf changed while this run was being planned/, 'the message names the file that changed');
  t.match((run.error as KerioDccError).hint, /Nothing was changed\. Run the command again\./);
  t.ok(edited && (await readFile(localCf)).equals(edited), "the other administrator's edit is kept, not overwritten by a plan made from the old file");
  // The simulation's own state file stands for Windows (it records the state folder kerio-dcc secured), not for a file on the server.
  const changed = changedFiles(before, await hashTree(image.root)).filter((f) => f !== 'ProgramData/kerio-dcc/simulated-system.json');
  t.same(changed, [localCf.slice(image.root.length + 1)], 'no other file changed: no map, no profile');
  t.same(await backupsIn(image), [], 'no backup is left behind');
  t.equal(run.report.changed, false);
});

t.test('dccproc missing at the default place: asked with the default filled in, a wrong path is refused by name, the right one is used', async (t) => {
  const image = await imageWithDccprocMoved(t);
  const run = await wizard({ root: image.root, simulate: true }, ['', 'C:\\DCC\\dccproc.exe', 'C:\\DCC\\bin', 'C:\\DCC\\bin\\dccproc.exe', true, false]);
  succeeded(t, run);
  t.same(messages(run), ['dccproc.exe:', CONFIRM, SAVE_OFFER], 'only dccproc is asked besides the confirmation and the save offer');
  const question = run.prompter.questions[0]!;
  t.equal(question.defaultValue, 'C:\\sa\\dccproc.exe', 'the default place is pre-filled');
  t.match(question.shownBefore, 'C:\\sa\\dccproc.exe does not exist.', 'the problem is said before the question');
  t.match(run.prompter.questions[1]!.shownBefore, 'dccproc         C:\\DCC\\bin\\dccproc.exe', 'the summary shows the answer');
  t.same(
    question.refusals,
    ['C:\\sa\\dccproc.exe does not exist', 'C:\\DCC\\dccproc.exe does not exist', 'C:\\DCC\\bin is not a file'],
    'each wrong entry is refused with its path named',
  );
  t.ok((await localCfLines(image)).includes('dcc_path C:\\DCC\\bin\\dccproc.exe'), 'local.cf names the dccproc that was given');
  t.equal(run.ctx.answers.dcc.dccproc, 'C:\\DCC\\bin\\dccproc.exe');
});

t.test('a dccproc path SpamAssassin would refuse is rejected at the prompt even though the file exists', async (t) => {
  const image = await makeImage(t);
  await moveWin(image, 'C:\\sa\\dccproc.exe', 'C:\\DCC!\\dccproc.exe');
  await mkdir(inImage(image.root, 'C:\\DCC\\'), { recursive: true });
  await writeFile(inImage(image.root, 'C:\\DCC\\dccproc.exe'), await readWin(image, 'C:\\DCC!\\dccproc.exe'));
  const run = await wizard({ root: image.root, simulate: true }, ['C:\\DCC!\\dccproc.exe', 'C:\\DCC\\dccproc.exe', false]);
  succeeded(t, run);
  t.match(run.prompter.questions[0]!.refusals, [/^"C:\\DCC!\\dccproc\.exe" has characters SpamAssassin refuses in paths/], 'refused once, naming the path');
  t.equal(run.ctx.answers.dcc.dccproc, 'C:\\DCC\\dccproc.exe', 'the corrected path is the answer');
});

t.test('an empty map is said at once and asked again; a map that exists and is not empty is taken', async (t) => {
  const image = await makeImage(t);
  await writeFile(inImage(image.root, image.map), Buffer.alloc(0));
  await mkdir(inImage(image.root, 'C:\\DCC\\'), { recursive: true });
  await writeFile(inImage(image.root, 'C:\\DCC\\map'), demoMapBytes());
  const run = await wizard({ root: image.root, simulate: true }, ['', 'C:\\DCC\\map', true, false]);
  succeeded(t, run);
  t.same(messages(run), ["DCC's map file:", CONFIRM, SAVE_OFFER], 'only the map is asked');
  t.equal(run.prompter.questions[0]!.defaultValue, image.map, 'the empty map is the default shown');
  t.match(run.prompter.questions[0]!.shownBefore, `${image.map} is empty.`, 'the problem is said before the question');
  t.same(run.prompter.questions[0]!.refusals, [`${image.map} is empty`], 'taking the default is refused');
  t.same(await readWin(image, SYSWOW64_MAP), demoMapBytes(), 'the map that was given is copied byte for byte');
});

t.test('Kerio in neither Program Files folder (no service to ask): its install folder is asked and checked for the rules folder', async (t) => {
  const image = await makeImage(t);
  const custom = 'C:\\Kerio Custom\\MailServer';
  await moveWin(image, image.installDir, custom);
  const run = await wizard({ root: image.root }, ['', 'C:\\Kerio Custom', custom, true, false]);
  succeeded(t, run);
  t.same(messages(run), ["Kerio Connect's install folder (it holds plugins\\spamassassin\\rules):", CONFIRM, SAVE_OFFER]);
  const question = run.prompter.questions[0]!;
  t.equal(question.defaultValue, 'C:\\Program Files\\Kerio\\MailServer', 'the usual folder is pre-filled');
  t.match(question.shownBefore, 'Kerio Connect was not found on the image at', 'why it is asked is said first');
  t.match(run.prompter.questions[1]!.shownBefore, `Kerio Connect   ${custom} (kerio.install_dir in the answers file)`, 'the summary shows the answer');
  t.same(question.refusals, [
    "C:\\Program Files\\Kerio\\MailServer has no plugins\\spamassassin\\rules\\v310.pre: is this Kerio Connect's install folder?",
    "C:\\Kerio Custom has no plugins\\spamassassin\\rules\\v310.pre: is this Kerio Connect's install folder?",
  ]);
  const localCf = (await readFile(inImage(image.root, `${custom}\\plugins\\spamassassin\\rules\\local.cf`))).toString('latin1').split(/\r?\n/);
  t.ok(localCf.includes('dcc_path C:\\sa\\dccproc.exe'), 'local.cf in the folder that was given is patched');
  t.same(await readWin(image, SYSWOW64_MAP), demoMapBytes(), 'the profile follows the bitness of the mailserver.exe found there');
});

/** The simulated Kerio service, running, with its program in `installDir`. */
async function serviceRunsFrom(image: Image, installDir: string): Promise<void> {
  await mkdir(path.dirname(inImage(image.root, SIM_STATE)), { recursive: true });
  const state = {
    schema: 1,
    elevated: true,
    language: 'en',
    services: { KerioMailServer: { state: 4, binaryPath: `"${installDir}\\mailserver.exe"`, startName: 'LocalSystem' } },
    firewall: [],
  };
  await writeFile(inImage(image.root, SIM_STATE), JSON.stringify(withStateFolderSecured(state)));
}

t.test('a Kerio service whose program path names a folder that is gone: the install folder is asked, and the answer wins', async (t) => {
  const image = await makeImage(t);
  const custom = 'C:\\Kerio Custom\\MailServer';
  await moveWin(image, image.installDir, custom);
  await serviceRunsFrom(image, image.installDir);
  const run = await wizard({ root: image.root, simulate: true }, [custom, true, false]);
  succeeded(t, run);
  t.same(messages(run), ["Kerio Connect's install folder (it holds plugins\\spamassassin\\rules):", CONFIRM, SAVE_OFFER]);
  t.equal(run.ctx.answers.kerio.installDir, custom);
  t.match(run.prompter.questions[0]!.shownBefore, `rules folder ${image.rulesDir} was not found`, 'why it is asked is said first');
  const localCf = (await readFile(inImage(image.root, `${custom}\\plugins\\spamassassin\\rules\\local.cf`))).toString('latin1');
  t.match(localCf, /^use_dcc 1\r?$/m, 'the rules folder in the answered install folder is patched');
});

t.test('a Kerio service pointing at a non-standard folder settles it: nothing is asked but the confirmation', async (t) => {
  const image = await makeImage(t);
  const custom = 'C:\\Kerio Custom\\MailServer';
  await moveWin(image, image.installDir, custom);
  await serviceRunsFrom(image, custom);
  const run = await wizard({ root: image.root, simulate: true }, [false]);
  succeeded(t, run);
  t.same(messages(run), [CONFIRM], 'only the confirmation');
  t.match(run.prompter.questions[0]!.shownBefore, `Kerio Connect   ${custom} (the KerioMailServer service's program path (sc qc))`);
});

t.test('answers given in --answers are not asked again, even when wrong: the run stops with the usual error (exit 3)', async (t) => {
  const image = await imageWithDccprocMoved(t);
  const dir = await tempDir(t);
  const before = await hashTree(image.root);

  t.test('a wrong dcc.dccproc', async (t) => {
    const answers = path.join(dir, 'wrong-dccproc.ini');
    await writeFile(answers, '[dcc]\ndccproc = C:\\DCC\\dccproc.exe\n');
    const run = await wizard({ root: image.root, simulate: true, answers }, []);
    t.same(run.prompter.questions, [], 'nothing was asked');
    t.type(run.error, KerioDccError);
    t.equal((run.error as KerioDccError).exitCode, 3, 'exit code 3 (precondition)');
    t.match((run.error as Error).message, 'dccproc C:\\DCC\\dccproc.exe does not exist');
  });

  t.test('a wrong kerio.install_dir', async (t) => {
    const answers = path.join(dir, 'wrong-install.ini');
    await writeFile(answers, '[kerio]\ninstall_dir = C:\\Kerio Custom\\MailServer\n[dcc]\ndccproc = C:\\DCC\\bin\\dccproc.exe\n');
    const run = await wizard({ root: image.root, answers }, []);
    t.same(run.prompter.questions, [], 'nothing was asked');
    t.equal((run.error as KerioDccError).exitCode, 3, 'exit code 3 (precondition)');
    t.match((run.error as Error).message, 'rules folder C:\\Kerio Custom\\MailServer\\plugins\\spamassassin\\rules was not found');
  });

  t.test('nothing was changed by either', async (t) => {
    t.same(await hashTree(image.root), before, 'the image is byte-identical');
  });
});

t.test('a partial answers file: what it gives is used, only what is missing is asked', async (t) => {
  const image = await makeImage(t);
  await moveWin(image, 'C:\\sa\\dccproc.exe', 'C:\\DCC\\bin\\dccproc.exe');
  await moveWin(image, 'C:\\sa\\etc\\dcc\\map', 'C:\\DCC\\etc\\map');
  const answers = path.join(await tempDir(t), 'partial.ini');
  await writeFile(answers, '[dcc]\nhome = C:\\DCC\\etc\n');
  const run = await wizard({ root: image.root, simulate: true, answers }, ['C:\\DCC\\bin\\dccproc.exe', false]);
  succeeded(t, run);
  t.same(messages(run), ['dccproc.exe:', CONFIRM], 'dcc.home is not asked and the map follows it');
});

t.test('the saved answers replayed with --yes on a fresh server prepared the same way give the identical result', async (t) => {
  const prepare = async (image: Image) => {
    await moveWin(image, 'C:\\sa\\dccproc.exe', 'C:\\DCC\\bin\\dccproc.exe');
    await moveWin(image, 'C:\\sa\\etc\\dcc', 'C:\\DCC\\etc');
  };
  const first = await makeImage(t);
  await prepare(first);
  const saved = path.join(await tempDir(t), 'kerio-dcc-answers.ini');
  const run = await wizard({ root: first.root, simulate: true }, ['C:\\DCC\\etc', 'C:\\DCC\\bin\\dccproc.exe', true, true, '   ', saved]);
  succeeded(t, run);
  t.same(messages(run), ["DCC's home folder (holds the map file):", 'dccproc.exe:', CONFIRM, SAVE_OFFER, SAVE_TO]);
  t.same(run.prompter.questions[4]!.refusals, ['give a file name'], 'a blank file name is refused');
  t.equal(run.report.data['savedAnswers'], saved);
  t.match(run.report.summary, `replay with: kerio-dcc install --answers ${saved} --yes`);
  const savedText = await readFile(saved, 'utf8');
  t.match(savedText, /^home = C:\\DCC\\etc$/m);
  t.match(savedText, /^dccproc = C:\\DCC\\bin\\dccproc\.exe$/m);

  const fresh = await makeImage(t);
  await prepare(fresh);
  const replay = await runCli(['install', '--answers', saved, '--root', fresh.root, '--simulate', '--yes', '--json']);
  t.equal(replay.code, 0, 'the replay exits 0', { stderr: replay.stderr });
  t.same(await hashTree(inImage(fresh.root, fresh.rulesDir)), await hashTree(inImage(first.root, first.rulesDir)), 'the rules folders are byte-identical');
  t.same(await readWin(fresh, SYSWOW64_MAP), await readWin(first, SYSWOW64_MAP), 'the map is in the same place with the same bytes');
  // Both profile parents at once: comparing the System32 profile alone compared two absent folders.
  const profiles = async (image: Image) => hashTree(inImage(image.root, 'C:\\Windows'));
  const written = await profiles(first);
  t.ok(
    Object.keys(written).some((f) => f.endsWith(`${path.sep}.spamassassin${path.sep}map`)),
    'the first run wrote a map into a profile (else the comparison proves nothing)',
  );
  t.same(await profiles(fresh), written, 'every profile folder under C:\\Windows is byte-identical, the SysWOW64 one written and the System32 one left alone');
  t.notOk(existsSync(inImage(fresh.root, SYSTEM32_PROFILE)), 'the System32 profile is not made for 32-bit Kerio on 64-bit Windows');
  t.same(
    JSON.parse(await readWin(fresh, SIM_STATE).then(String)),
    JSON.parse(await readWin(first, SIM_STATE).then(String)),
    'the same firewall rules and service state',
  );
});

t.test('a file name for the saved answers in a folder that does not exist is refused at the prompt', async (t) => {
  const image = await makeImage(t);
  const dir = await tempDir(t);
  const missing = path.join(dir, 'no-such-folder', 'answers.ini');
  const good = path.join(dir, 'answers.ini');
  const run = await wizard({ root: image.root, simulate: true }, [true, true, missing, good]);
  const refusals = run.prompter.questions.find((q) => q.message === SAVE_TO)?.refusals ?? [];
  t.match(refusals, [/no-such-folder/], 'refused, naming the folder', { runInstallThrew: run.error instanceof Error ? run.error.message : run.error });
  t.match(await readFile(good, 'utf8').catch(() => ''), /^; kerio-dcc answers/, 'the answers are saved under the corrected name');
});

t.test('--save-answers into a folder that does not exist is refused before anything is changed (exit 2)', async (t) => {
  const image = await makeImage(t);
  const missing = path.join(await tempDir(t), 'no-such-folder', 'answers.ini');
  const before = await hashTree(image.root);
  const result = await runCli(['install', '--root', image.root, '--simulate', '--yes', '--save-answers', missing]);
  t.equal(result.code, 2, 'exits 2 (usage), not 1', { stderr: result.stderr });
  t.match(result.stderr, 'no-such-folder');
  t.notMatch(result.stderr, 'Unexpected error');
  t.same(await backupsIn(image), [], 'no backup: the server was not touched');
  t.same(changedFiles(before, await hashTree(image.root)), [], 'no file of the image changed');
});

t.test('Ctrl-C at a prompt stops at once with exit code 130 and nothing changed', async (t) => {
  const cases: [string, (image: Image) => Promise<void>, Keystrokes[], string[]][] = [
    ['at the first question', async (image) => moveWin(image, 'C:\\sa\\dccproc.exe', 'C:\\DCC\\bin\\dccproc.exe'), [CTRL_C], ['dccproc.exe:']],
    [
      'after a refused answer',
      async (image) => moveWin(image, 'C:\\sa\\dccproc.exe', 'C:\\DCC\\bin\\dccproc.exe'),
      ['C:\\nowhere.exe', CTRL_C],
      ['dccproc.exe:'],
    ],
    ['at the confirmation', async () => undefined, [CTRL_C], [CONFIRM]],
  ];
  for (const [name, prepare, script, asked] of cases) {
    t.test(name, async (t) => {
      const image = await makeImage(t);
      await prepare(image);
      const before = await hashTree(image.root);
      const run = await wizard({ root: image.root, simulate: true }, script);
      t.type(run.error, InterruptedError);
      t.equal((run.error as KerioDccError).exitCode, 130, 'exit code 130');
      t.same(messages(run), asked, 'nothing is asked after Ctrl-C');
      t.equal(run.report.changed, false, 'the report says nothing changed');
      t.same(await hashTree(image.root), before, 'the image is byte-identical');
    });
  }
});

t.test('Ctrl-C at the save offer, after the changes were applied, does not claim that nothing was changed', async (t) => {
  const image = await makeImage(t);
  const run = await wizard({ root: image.root, simulate: true }, [true, CTRL_C]);
  t.same(messages(run), [CONFIRM, SAVE_OFFER]);
  t.equal(run.report.changed, true, 'the plan was applied before the offer');
  t.ok((await localCfLines(image)).includes('use_dcc 1'), 'and DCC is on');
  const told = run.error instanceof KerioDccError ? `${run.error.message} ${run.error.hint ?? ''}` : '';
  t.notMatch(told, /nothing was changed/i, 'the administrator is not told that nothing was changed', { told });
});

t.test('--save-answers on a terminal saves without offering to', async (t) => {
  const image = await imageWithDccprocMoved(t);
  const saved = path.join(await tempDir(t), 'saved.ini');
  const run = await wizard({ root: image.root, simulate: true }, ['C:\\DCC\\bin\\dccproc.exe', true], { saveAnswersTo: saved });
  succeeded(t, run);
  t.same(messages(run), ['dccproc.exe:', CONFIRM], 'no save offer');
  t.match(await readFile(saved, 'utf8'), /^dccproc = C:\\DCC\\bin\\dccproc\.exe$/m, 'the answer given at the prompt is saved');
});

t.test('--save-answers with --yes writes the file without asking anything', async (t) => {
  const image = await imageWithDccprocMoved(t);
  const dir = await tempDir(t);
  const given = path.join(dir, 'given.ini');
  await writeFile(given, '[dcc]\ndccproc = C:\\DCC\\bin\\dccproc.exe\n');
  const saved = path.join(dir, 'saved.ini');

  t.test('in process, with a terminal that must not be used', async (t) => {
    const run = await wizard({ root: image.root, simulate: true, yes: true, answers: given }, [], { saveAnswersTo: saved });
    succeeded(t, run);
    t.same(run.prompter.questions, [], 'nothing was asked');
    t.equal(run.report.changed, true);
    t.match(await readFile(saved, 'utf8'), /^dccproc = C:\\DCC\\bin\\dccproc\.exe$/m);
  });

  t.test('from the command line', async (t) => {
    const fresh = await imageWithDccprocMoved(t);
    const cliSaved = path.join(dir, 'cli-saved.ini');
    const result = await runCli(['install', '--root', fresh.root, '--simulate', '--yes', '--answers', given, '--save-answers', cliSaved]);
    t.equal(result.code, 0, 'exits 0', { stderr: result.stderr });
    t.match(result.stdout, `Answers saved to ${cliSaved}`);
    t.equal(await readFile(cliSaved, 'utf8'), await readFile(saved, 'utf8'), 'the same file as the in-process run');
  });
});

t.test('--dry-run asks what it must, shows the plan, and neither confirms nor offers to save', async (t) => {
  const image = await imageWithDccprocMoved(t);
  const before = await hashTree(image.root);
  const run = await wizard({ root: image.root, simulate: true, 'dry-run': true }, ['C:\\DCC\\bin\\dccproc.exe']);
  succeeded(t, run);
  t.same(messages(run), ['dccproc.exe:']);
  t.match(run.report.summary, /^Dry run: \d+ step\(s\) would change\. Nothing was changed\.$/);
  t.same(await hashTree(image.root), before);
});

t.test("[dcc] client = bundled at a terminal: DCC's licence is shown and asked; no changes nothing, yes is recorded in the backup", async (t) => {
  const skip = linuxDccMissing() || windowsDccMissing();
  if (skip) return t.skip(skip);
  const [linux, windows] = await Promise.all([linuxDcc(), windowsDcc()]);
  const saved = { dir: process.env['KERIO_DCC_CLIENT_DIR'], cdcc: process.env['KERIO_DCC_SIMULATED_CDCC'] };
  process.env['KERIO_DCC_CLIENT_DIR'] = windows.dir;
  process.env['KERIO_DCC_SIMULATED_CDCC'] = linux.cdcc;
  t.teardown(() => {
    for (const [key, value] of [
      ['KERIO_DCC_CLIENT_DIR', saved.dir],
      ['KERIO_DCC_SIMULATED_CDCC', saved.cdcc],
    ] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });
  const answers = path.join(await tempDir(t, 'kerio-dcc-answers-'), 'dcc.ini');
  await writeFile(answers, '[dcc]\nclient = bundled\nservers[] = 127.0.0.1,6277 RTT+0 ms anon\n');
  const licence = await readFile(path.join(windows.dir, 'LICENSE'), 'utf8');
  const QUESTION = "Does DCC's licence allow your use, and do you accept it?";

  const refused = await makeImage(t);
  const before = await hashTree(refused.root);
  const no = await wizard({ root: refused.root, simulate: true, answers }, [false]);
  t.same(
    no.prompter.questions.map((q) => [q.kind, q.message, q.defaultValue]),
    [['confirm', QUESTION, false]],
    'the licence question comes first, defaulting to no',
  );
  t.ok(no.prompter.questions[0]!.shownBefore.includes(licence.trimEnd().split('\n')[0]!), "DCC's licence text is shown before it");
  t.ok(no.error instanceof KerioDccError && no.error.exitCode === 2, 'refused: exit 2');
  t.match((no.error as Error).message, /licence was not accepted/);
  t.same(await hashTree(refused.root), before, 'nothing changed');

  const accepted = await makeImage(t);
  await rm(inImage(accepted.root, 'C:\\sa'), { recursive: true }); // a server with no DCC yet
  const yes = await wizard({ root: accepted.root, simulate: true, answers }, [true, true, false]);
  succeeded(t, yes);
  t.same(messages(yes).slice(0, 2), [QUESTION, CONFIRM], 'the licence, then the plan');
  const [id] = await backupsIn(accepted);
  const manifest = JSON.parse(await readFile(path.join(inImage(accepted.root, BACKUPS), id!, 'manifest.json'), 'utf8'));
  t.equal(manifest.dccLicense?.how, 'prompt', 'the backup records that it was accepted at the prompt');
});
