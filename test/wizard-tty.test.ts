import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { demoMapBytes, type Image } from '../src/demo/image.js';
import { BIN, PROJECT, hashTree, inImage, makeImage } from './helpers/cli.js';

const run = promisify(execFile);

const SYSWOW64_MAP = 'C:\\Windows\\SysWOW64\\config\\systemprofile\\.spamassassin\\map';
const BACKUPS = 'C:\\ProgramData\\kerio-dcc\\backups';
/** How long one screen may take to appear; a test is a handful of these at most. */
const SCREEN_DEADLINE_MS = 10_000;

async function findTmux(): Promise<string | null> {
  for (const dir of (process.env['PATH'] ?? '/usr/bin').split(path.delimiter)) {
    const candidate = path.join(dir, 'tmux');
    if (
      await access(candidate, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return candidate;
  }
  return null;
}

/**
 * Runs the tool and writes how it ended to a file. tmux itself sometimes leaves the ended
 * process unreaped (a zombie, no #{pane_dead_status}), so the status is recorded here.
 */
const RECORD_ENDING = `import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
const [endingFile, program, ...args] = process.argv.slice(2);
// Ctrl-C goes to the whole foreground group; this one must outlive the tool to record its end.
process.on('SIGINT', () => undefined);
spawn(program, args, { stdio: 'inherit' }).on('exit', (code, signal) => {
  writeFileSync(endingFile, code === null ? 'signal ' + signal : 'exit ' + code);
});
`;

const TMUX = await findTmux();

/**
 * One kerio-dcc process on a real pseudo-terminal: a private tmux server (its own socket,
 * its own config) running the command with no shell in between. The pane stays after the
 * process ends so its last screen can still be read.
 */
class Terminal {
  private constructor(
    private readonly tmux: string,
    private readonly socket: string,
    private readonly endingFile: string,
  ) {}

  static async start(t: Test, args: string[]): Promise<Terminal> {
    // The server's socket lives in this folder, so the server is this test's alone and leaves nothing behind.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'kerio-dcc-tmux-'));
    const socket = path.join(dir, 'tmux.sock');
    const config = path.join(dir, 'tmux.conf');
    await writeFile(config, 'set -g remain-on-exit on\nset -g history-limit 5000\n');
    const recorder = path.join(dir, 'record-ending.mjs');
    await writeFile(recorder, RECORD_ENDING);
    const terminal = new Terminal(TMUX!, socket, path.join(dir, 'ending'));
    t.teardown(async () => {
      await terminal.tmuxCommand(['kill-server']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    });
    // CI=true makes the tool treat even a terminal as unattended; the child must not inherit it.
    const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color' };
    for (const name of ['CI', 'TMUX', 'TMUX_PANE']) delete env[name];
    await run(
      TMUX!,
      [
        '-S',
        socket,
        '-f',
        config,
        'new-session',
        '-d',
        '-s',
        'wizard',
        '-x',
        '200',
        '-y',
        '50',
        '-c',
        PROJECT,
        process.execPath,
        recorder,
        terminal.endingFile,
        process.execPath,
        BIN,
        ...args,
      ],
      { env },
    );
    return terminal;
  }

  private async tmuxCommand(args: string[]): Promise<string> {
    return (await run(this.tmux, ['-S', this.socket, ...args])).stdout;
  }

  /** Everything the terminal showed, scrollback included, with wrapped lines joined. */
  screen(): Promise<string> {
    return this.tmuxCommand(['capture-pane', '-p', '-J', '-S', '-', '-t', 'wizard']);
  }

  /** Polls the screen until `pattern` shows; fails with the screen when it does not in time. */
  async waitFor(pattern: RegExp | string): Promise<string> {
    const deadline = Date.now() + SCREEN_DEADLINE_MS;
    for (;;) {
      const screen = await this.screen();
      if (typeof pattern === 'string' ? screen.includes(pattern) : pattern.test(screen)) return screen;
      if (Date.now() > deadline) throw new Error(`waited ${SCREEN_DEADLINE_MS} ms for ${String(pattern)}; the screen shows:\n${screen}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async type(text: string): Promise<void> {
    await this.tmuxCommand(['send-keys', '-t', 'wizard', '-l', text]);
  }

  async press(...keys: string[]): Promise<void> {
    await this.tmuxCommand(['send-keys', '-t', 'wizard', ...keys]);
  }

  /** How the tool ended, "exit N" or "signal NAME" (dying of SIGINT must not pass for exiting 130). */
  async ending(): Promise<string> {
    const deadline = Date.now() + SCREEN_DEADLINE_MS;
    for (;;) {
      const ending = await readFile(this.endingFile, 'utf8').catch(() => null);
      if (ending) return ending;
      if (Date.now() > deadline) throw new Error(`the process did not end within ${SCREEN_DEADLINE_MS} ms; the screen shows:\n${await this.screen()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** DCC unpacked to C:\DCC\bin: the one question the wizard cannot settle is where dccproc is. */
async function imageWithDccprocMoved(t: Test): Promise<Image> {
  const image = await makeImage(t);
  await mkdir(inImage(image.root, 'C:\\DCC\\bin'), { recursive: true });
  await rename(inImage(image.root, 'C:\\sa\\dccproc.exe'), inImage(image.root, 'C:\\DCC\\bin\\dccproc.exe'));
  return image;
}

/** Files (not folders) that differ: the run takes its lock in the backups folder, which it leaves empty. */
function changedFiles(before: Record<string, string>, after: Record<string, string>): string[] {
  return [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => !k.endsWith(path.sep) && before[k] !== after[k]).sort();
}

const skip = TMUX ? false : 'tmux is not installed: the real-terminal check needs it (apt-get install tmux)';

t.test('on a real terminal the administrator corrects a wrong path by keystrokes, confirms, and DCC is on', { skip }, async (t) => {
  const image = await imageWithDccprocMoved(t);
  const term = await Terminal.start(t, ['install', '--root', image.root, '--simulate']);

  await term.waitFor('? dccproc.exe: (C:\\sa\\dccproc.exe)');
  await term.type('C:\\DCC\\dccproc.exe');
  await term.press('Enter');
  const refused = await term.waitFor('C:\\DCC\\dccproc.exe does not exist');
  t.match(refused, /^> C:\\DCC\\dccproc\.exe does not exist$/m, 'the wrong path is refused at once, by name');

  // inquirer keeps a refused entry on the line for editing: clear it as an administrator would.
  await term.press('C-u');
  await term.type('C:\\DCC\\bin\\dccproc.exe');
  await term.press('Enter');
  const plan = await term.waitFor('Apply these changes? (y/N)');
  t.match(plan, 'dccproc         C:\\DCC\\bin\\dccproc.exe', 'the summary shows the corrected path');
  t.match(plan, /^ +\+dcc_path C:\\DCC\\bin\\dccproc\.exe$/m, 'the plan shows the local.cf diff before asking');

  await term.type('y');
  await term.press('Enter');
  await term.waitFor('Save the answers used, to run the same setup unattended on the next server? (y/N)');
  await term.type('n');
  await term.press('Enter');
  t.equal(await term.ending(), 'exit 0', 'exit status 0', { screen: await term.screen() });
  t.match(await term.screen(), /^DCC is on\.$/m);

  t.same(await readFile(inImage(image.root, SYSWOW64_MAP)), demoMapBytes(), 'the map is copied byte for byte');
  const localCf = (await readFile(inImage(image.root, `${image.rulesDir}\\local.cf`))).toString('latin1').split(/\r?\n/);
  t.ok(localCf.includes('dcc_path C:\\DCC\\bin\\dccproc.exe'), 'local.cf names the dccproc that was typed');
  t.notOk(localCf.includes('score DCC_CHECK 0'), "Kerio's zero score is turned off");
  const v310 = (await readFile(inImage(image.root, `${image.rulesDir}\\v310.pre`))).toString('latin1').split(/\r?\n/);
  t.ok(v310.includes('loadplugin Mail::SpamAssassin::Plugin::DCC'), 'v310.pre loads the DCC plugin');
});

t.test('Ctrl-C at a prompt on a real terminal exits 130 at once and leaves the server untouched', { skip }, async (t) => {
  const cases: [string, (t: Test) => Promise<Image>, string][] = [
    ['at the first question', imageWithDccprocMoved, '? dccproc.exe: (C:\\sa\\dccproc.exe)'],
    ['at the confirmation', (t) => makeImage(t), 'Apply these changes? (y/N)'],
  ];
  for (const [name, makeServer, prompt] of cases) {
    t.test(name, async (t) => {
      const image = await makeServer(t);
      const before = await hashTree(image.root);
      const term = await Terminal.start(t, ['install', '--root', image.root, '--simulate']);
      await term.waitFor(prompt);
      await term.press('C-c');
      t.equal(await term.ending(), 'exit 130', 'exit status 130, not killed by the signal', { screen: await term.screen() });
      t.match(await term.screen(), /^error: Interrupted at the prompt\.$/m);
      t.same(changedFiles(before, await hashTree(image.root)), [], 'no file of the image changed');
      t.same(await readdir(inImage(image.root, BACKUPS)).catch(() => []), [], 'no backup was made');
    });
  }
});
