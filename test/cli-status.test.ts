// `kerio-dcc status` and `kerio-dcc doctor` as an administrator runs them: the built CLI on
// an image of a Windows server, with the simulated system standing in for sc, netsh and dccproc.
import { spawnSync } from 'node:child_process';
import { cp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import t, { type Test } from 'tap';
import { decodePowershell } from '../src/windows/powershell.js';
import { buildImage, DEMO_IMAGE, type Image } from '../src/demo/image.js';
import { hashTree, inImage, makeImage, PROJECT, runCli, tempDir, type CliResult, rulesHost } from './helpers/cli.js';

const SIM_STATE = 'C:\\ProgramData\\kerio-dcc\\simulated-system.json';
const BACKUPS = 'C:\\ProgramData\\kerio-dcc\\backups';
const SYSWOW64_MAP = 'C:\\Windows\\SysWOW64\\config\\systemprofile\\.spamassassin\\map';
const RULE_OUT = 'Kerio DCC (UDP 6277 out)';
const RULE_IN = 'Kerio DCC (UDP 6277 in)';
// watch: whether the scheduled repair is registered; not drift when it is not (test/cli-watch.test.ts).
const STATUS_IDS = ['block', 'split-paths', 'scores', 'plugin', 'map', 'firewall', 'service', 'unfinished', 'state-folder', 'profile-acl', 'watch'];
const HAZARD_IDS = ['bom', 'plugin-once', 'use-dcc'];
const SELFTEST_IDS = ['dccproc-version', 'dcc-query'];

type Check = { id: string; title: string; ok: boolean | null; detail: string };

function exitsWith(tt: Test, run: CliResult, code: number): void {
  tt.equal(run.code, code, `exit ${code}`, { stdout: run.stdout, stderr: run.stderr });
}

function checks(run: CliResult): Check[] {
  const list = run.json?.data?.checks;
  if (!Array.isArray(list)) throw new Error(`no data.checks in the JSON output:\n${run.stdout}\n${run.stderr}`);
  return list;
}

function checkById(run: CliResult, id: string): Check {
  const found = checks(run).find((c) => c.id === id);
  if (!found) throw new Error(`no check "${id}" in ${JSON.stringify(checks(run))}`);
  return found;
}

/** Ids of the checks that did not hold. */
function drifted(run: CliResult): string[] {
  return checks(run)
    .filter((c) => c.ok === false)
    .map((c) => c.id);
}

function status(image: Image, ...extra: string[]): Promise<CliResult> {
  return runCli(['status', '--root', image.root, '--simulate', '--json', ...extra]);
}

function doctor(image: Image, ...extra: string[]): Promise<CliResult> {
  return runCli(['doctor', '--root', image.root, '--simulate', '--json', ...extra]);
}

async function readSimState(image: Image): Promise<any> {
  return JSON.parse(await readFile(inImage(image.root, SIM_STATE), 'utf8'));
}

async function editSimState(image: Image, edit: (state: any) => void): Promise<void> {
  const state = await readSimState(image);
  edit(state);
  await writeFile(inImage(image.root, SIM_STATE), JSON.stringify(state, null, 2));
}

/** Splits a command line as a shell would for plain words and "double-quoted" ones. */
/** Splits a printed command line as a POSIX shell would (single quotes with '\\'' escapes, double quotes, bare words). */
function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  for (const m of line.trim().matchAll(/(?:'[^']*'|"[^"]*"|\\.|[^\s'"\\])+/g)) {
    words.push(m[0].replace(/'([^']*)'|"([^"]*)"|\\(.)/g, (_all, single, double, escaped) => single ?? double ?? escaped));
  }
  return words;
}

// One install, copied for each test: every test starts from the same provisioned server.
let provisioned: Promise<Image> | null = null;

function provision(): Promise<Image> {
  provisioned ??= (async () => {
    const image = await makeImage(t);
    const run = await runCli(['install', '--root', image.root, '--simulate', '--yes', '--json']);
    if (run.code !== 0) throw new Error(`install failed (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
    return image;
  })();
  return provisioned;
}

async function installedImage(tt: Test): Promise<Image> {
  const image = await provision();
  const root = await tempDir(tt);
  await cp(image.root, root, { recursive: true });
  return { ...image, root };
}

// The tests are independent (each has its own image) and mostly wait for child processes.
t.jobs = 3;

// ------------------------------------------------------------------ status before and after install

t.test('status before install reports every missing piece as drift, exits 6 and names the install command', async (tt) => {
  const image = await makeImage(tt);
  const run = await status(image);
  exitsWith(tt, run, 6);
  tt.same(
    checks(run).map((c) => c.id),
    STATUS_IDS,
    'one check per piece, in order',
  );
  tt.same(drifted(run), ['block', 'scores', 'plugin', 'map', 'firewall']);
  tt.equal(checkById(run, 'service').ok, true, 'the simulated service runs from the start');
  tt.equal(checkById(run, 'unfinished').ok, true);
  tt.equal(run.json.ok, false);
  // No answers file was given, so the fix is install with the same defaults: no --answers to trip over.
  tt.match(run.json.error.hint, /kerio-dcc install --root /);
  tt.match(run.json.error.hint, `--root ${image.root} --simulate`);

  // Without --simulate the firewall and service are not asked, and the fix does not add --simulate.
  const human = await runCli(['status', '--root', image.root]);
  exitsWith(tt, human, 6);
  const lines = human.stdout.split('\n').filter((l) => /^\s+(ok|DRIFT|skipped)\s/.test(l));
  tt.equal(lines.length, STATUS_IDS.length, 'one line per check');
  tt.equal(lines.filter((l) => /^\s+DRIFT\s/.test(l)).length, 4, 'block, scores, plugin and map');
  tt.match(human.stderr, new RegExp(`To fix it, run: kerio-dcc install .*--root ${image.root}\n`));
});

t.test('the install command that status prints keeps the answers file and target flags, and running it fixes the drift', async (tt) => {
  const root = await tempDir(tt, 'kerio dcc status ');
  const image = await buildImage(root, DEMO_IMAGE);
  const answers = path.join(root, 'my answers.ini');
  await writeFile(answers, '[firewall]\nname_prefix = Kerio DCC\n');

  const run = await runCli(['status', '--root', root, '--simulate', '--answers', answers, '--json']);
  exitsWith(tt, run, 6);
  const hint: string = run.json.error.hint;
  const command = hint.slice(hint.indexOf('kerio-dcc install'));
  const words = splitCommandLine(command);
  tt.same(words.slice(0, 2), ['kerio-dcc', 'install']);
  tt.equal(words[words.indexOf('--answers') + 1], answers, 'the same answers file, quoted as one word');
  tt.equal(words[words.indexOf('--root') + 1], root, 'the same root, quoted as one word');
  tt.ok(words.includes('--simulate'));

  const fix = await runCli([...words.slice(1), '--yes']);
  exitsWith(tt, fix, 0);
  const after = await status(image, '--answers', answers);
  exitsWith(tt, after, 0);
  tt.same(drifted(after), []);
});

t.test('the install command that status prints when no answers file was given works as printed', async (tt) => {
  const image = await makeImage(tt);
  const workDir = await tempDir(tt, 'kerio-dcc-cwd-');
  const run = await runCli(['status', '--root', image.root, '--simulate', '--json'], { cwd: workDir });
  exitsWith(tt, run, 6);
  const hint: string = run.json.error.hint;
  const words = splitCommandLine(hint.slice(hint.indexOf('kerio-dcc install')));
  tt.same(words.slice(0, 2), ['kerio-dcc', 'install']);

  // Run from the same folder, as an administrator pasting it would (plus --yes: no terminal here).
  const fix = await runCli([...words.slice(1), '--yes'], { cwd: workDir });
  exitsWith(tt, fix, 0);
  const after = await status(image);
  exitsWith(tt, after, 0);
});

t.test('status after install exits 0 with every check holding', async (tt) => {
  const image = await installedImage(tt);
  const run = await status(image);
  exitsWith(tt, run, 0);
  tt.same(
    checks(run).map((c) => c.id),
    STATUS_IDS,
  );
  tt.same(
    checks(run).map((c) => c.ok),
    STATUS_IDS.map((id) => (id === 'watch' ? null : true)),
  );
  tt.equal(run.json.ok, true);
  tt.equal(run.json.error, null);
  tt.equal(run.json.changed, false);
});

// ------------------------------------------------------------------ every drift case

t.test('a Kerio upgrade that replaces the rules folder shows as block, scores and plugin drift', async (tt) => {
  const image = await installedImage(tt);
  const fresh = await makeImage(tt);
  await rm(rulesHost(image), { recursive: true });
  await cp(rulesHost(fresh), rulesHost(image), { recursive: true });

  const run = await status(image);
  exitsWith(tt, run, 6);
  tt.same(drifted(run), ['block', 'scores', 'plugin']);
  tt.match(checkById(run, 'block').detail, /missing/);
  tt.match(checkById(run, 'scores').detail, /local\.cf line \d+/);
  tt.match(run.json.error.hint, 'kerio-dcc install');
  tt.match(run.json.error.hint, `--root ${image.root} --simulate`);
});

t.test('an edited kerio-dcc block shows as block drift', async (tt) => {
  const image = await installedImage(tt);
  const local = path.join(rulesHost(image), 'local.cf');
  const text = (await readFile(local, 'latin1')).replace(/use_dcc 1/, 'use_dcc 1\r\ndcc_timeout 99');
  await writeFile(local, text, 'latin1');
  const run = await status(image);
  exitsWith(tt, run, 6);
  tt.same(drifted(run), ['block']);
  tt.match(checkById(run, 'block').detail, /not what the answers say/);
});

t.test('a profile map that dccproc has since rewritten is not drift, and install leaves it alone', async (tt) => {
  // The real dccproc records server response times and back-off in the map it uses, so a
  // copy that no longer equals DCC's own map is the normal state of a working server.
  const image = await installedImage(tt);
  const copy = inImage(image.root, SYSWOW64_MAP);
  const bytes = await readFile(copy);
  bytes[bytes.length - 1] ^= 0xff;
  await writeFile(copy, bytes);
  const run = await status(image);
  exitsWith(tt, run, 0);
  tt.equal(checkById(run, 'map').ok, true);
  tt.match(checkById(run, 'map').detail, /present in/);
  const again = await runCli(['install', '--root', image.root, '--simulate', '--yes', '--json']);
  exitsWith(tt, again, 0);
  tt.equal(again.json.changed, false, 'a second install changes nothing');
  tt.same(await readFile(copy), bytes, "dccproc's copy is kept byte for byte");
});

t.test('an empty profile map shows as map drift', async (tt) => {
  const image = await installedImage(tt);
  await writeFile(inImage(image.root, SYSWOW64_MAP), Buffer.alloc(0));
  const run = await status(image);
  exitsWith(tt, run, 6);
  tt.same(drifted(run), ['map']);
  tt.match(checkById(run, 'map').detail, `${SYSWOW64_MAP} is empty`);
});

t.test('a deleted profile map shows as map drift', async (tt) => {
  const image = await installedImage(tt);
  await rm(inImage(image.root, SYSWOW64_MAP));
  const run = await status(image);
  exitsWith(tt, run, 6);
  tt.same(drifted(run), ['map']);
  tt.match(checkById(run, 'map').detail, `${SYSWOW64_MAP} is missing`);
});

t.test('one deleted firewall rule shows as firewall drift naming that rule', async (tt) => {
  const image = await installedImage(tt);
  await editSimState(image, (state) => {
    const before = state.firewall.length;
    state.firewall = state.firewall.filter((r: { name: string }) => r.name !== RULE_IN);
    if (state.firewall.length !== before - 1) throw new Error(`expected one "${RULE_IN}" rule in ${JSON.stringify(state.firewall)}`);
  });
  const run = await status(image);
  exitsWith(tt, run, 6);
  tt.same(drifted(run), ['firewall']);
  tt.match(checkById(run, 'firewall').detail, RULE_IN);
  tt.notMatch(checkById(run, 'firewall').detail, RULE_OUT, 'the rule still present is not blamed');
  tt.match(run.json.error.hint, 'kerio-dcc install');
});

t.test('a firewall rule with the wrong remote port shows as firewall drift', async (tt) => {
  const image = await installedImage(tt);
  await editSimState(image, (state) => {
    const rule = state.firewall.find((r: { name: string }) => r.name === RULE_OUT);
    rule.remotePort = '6278';
  });
  const run = await status(image);
  exitsWith(tt, run, 6);
  tt.same(drifted(run), ['firewall']);
  tt.match(checkById(run, 'firewall').detail, RULE_OUT);
});

t.test('a stopped Kerio service shows as service drift', async (tt) => {
  const image = await installedImage(tt);
  await editSimState(image, (state) => {
    state.services.KerioMailServer.state = 1;
  });
  const run = await status(image);
  exitsWith(tt, run, 6);
  tt.same(drifted(run), ['service']);
  tt.match(checkById(run, 'service').detail, /STOPPED/);
  tt.match(run.json.error.hint, 'kerio-dcc install');
});

t.test('an interrupted run (its backup still says applying) shows as unfinished drift with the rollback command', async (tt) => {
  const image = await installedImage(tt);
  const backups = inImage(image.root, BACKUPS);
  const ids = await readdir(backups);
  tt.equal(ids.length, 1, 'the install made one backup');
  const manifestPath = path.join(backups, ids[0]!, 'manifest.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
  manifest.status = 'applying';
  manifest.finishedAt = null;
  await writeFile(manifestPath, JSON.stringify(manifest, null, 2));
  // As a kill during the service restart leaves it: the journal ends with the service step started.
  const journalPath = path.join(backups, ids[0]!, 'journal.jsonl');
  const journal = (await readFile(journalPath, 'utf8')).trimEnd().split('\n');
  await writeFile(journalPath, journal.slice(0, -1).join('\n') + '\n');

  const run = await status(image);
  exitsWith(tt, run, 6);
  tt.same(drifted(run), ['unfinished']);
  tt.match(checkById(run, 'unfinished').detail, `kerio-dcc rollback ${ids[0]}`);
});

t.test('an interrupted run whose backup lost part of its file list stops the next install with a way forward, changing nothing', async (tt) => {
  const image = await installedImage(tt);
  const backups = inImage(image.root, BACKUPS);
  const [id] = await readdir(backups);
  const manifestPath = path.join(backups, id!, 'manifest.json');
  await writeFile(manifestPath, (await readFile(manifestPath, 'utf8')).replace('"status": "complete"', '"status": "applying"'));
  // The head still reads, the file list is cut off mid-entry (a damaged disk, or tampering).
  const listPath = path.join(backups, id!, 'files.jsonl');
  await writeFile(listPath, (await readFile(listPath, 'utf8')).slice(0, 200));
  await rm(path.join(backups, id!, 'journal.jsonl'));
  const before = await hashTree(image.root);

  const st = await status(image);
  exitsWith(tt, st, 6);
  tt.match(checkById(st, 'unfinished').detail, `install ${id} did not finish`, 'status names the interrupted run from its head alone');

  const run = await runCli(['install', '--root', image.root, '--simulate', '--yes', '--json']);
  exitsWith(tt, run, 3);
  tt.match(
    run.json?.error?.message,
    /did not finish: it was interrupted or killed\. Its backup cannot be used to restore it: .*cannot be trusted/,
    'the message says why the run cannot be restored',
  );
  tt.match(run.json?.error?.hint, `move C:\\ProgramData\\kerio-dcc\\backups\\${id} out of the backups folder`, 'and how to go on');
  tt.same(await hashTree(image.root), before, 'nothing changed');
});

t.test('a run whose journal shows every step finished is not reported as interrupted, even if its manifest says applying', async (tt) => {
  const image = await installedImage(tt);
  const backups = inImage(image.root, BACKUPS);
  const [id] = await readdir(backups);
  const manifestPath = path.join(backups, id!, 'manifest.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
  manifest.status = 'applying';
  await writeFile(manifestPath, JSON.stringify(manifest, null, 2));

  const run = await status(image);
  exitsWith(tt, run, 0);
  tt.equal(checkById(run, 'unfinished').ok, true);
});

// ------------------------------------------------------------------ status only reads

t.test('status changes nothing on a drifted server and runs no changing command', async (tt) => {
  const image = await installedImage(tt);
  await editSimState(image, (state) => {
    state.services.KerioMailServer.state = 1;
    state.firewall = [];
  });
  await rm(inImage(image.root, SYSWOW64_MAP));
  const before = await hashTree(image.root);
  const run = await status(image);
  exitsWith(tt, run, 6);
  tt.same(drifted(run), ['map', 'firewall', 'service']);
  tt.same(await hashTree(image.root), before, 'the image is byte for byte as before');
  const commands: Array<{ program: string; args: string[]; mutates: boolean }> = run.json.commands;
  tt.ok(
    commands.some((c) => /powershell\.exe$/i.test(c.program) && decodePowershell(c.args)?.kind === 'firewall-rules'),
    'the firewall was asked',
  );
  tt.ok(
    commands.some((c) => /sc\.exe$/i.test(c.program)),
    'the service was asked',
  );
  tt.same(
    commands.filter((c) => c.mutates),
    [],
    'every command only reads',
  );
});

t.test('status on a server never provisioned leaves no trace, not even a simulated-system file', async (tt) => {
  const image = await makeImage(tt);
  const before = await hashTree(image.root);
  const run = await status(image);
  exitsWith(tt, run, 6);
  tt.same(await hashTree(image.root), before);
  tt.same(
    run.json.commands.filter((c: { mutates: boolean }) => c.mutates),
    [],
  );
});

// ------------------------------------------------------------------ without --simulate, and no Kerio

t.test('status on an image without --simulate skips the firewall and service checks and they cause no drift', async (tt) => {
  const image = await installedImage(tt);
  await editSimState(image, (state) => {
    state.services.KerioMailServer.state = 1;
    state.firewall = [];
  });
  const run = await runCli(['status', '--root', image.root, '--json']);
  exitsWith(tt, run, 0);
  tt.equal(checkById(run, 'firewall').ok, null);
  tt.equal(checkById(run, 'service').ok, null);
  tt.same(drifted(run), []);
  tt.same(run.json.commands, [], 'no system command ran');
  const human = await runCli(['status', '--root', image.root]);
  exitsWith(tt, human, 0);
  tt.match(human.stdout, /skipped\s+firewall rules/);
  tt.match(human.stdout, /skipped\s+service KerioMailServer running/);
  tt.match(human.stdout, 'DCC is on.');
  tt.notMatch(human.stdout, 'DRIFT');
});

t.test('status exits 3 when Kerio cannot be found', async (tt) => {
  const empty = await tempDir(tt);
  const run = await runCli(['status', '--root', empty, '--json']);
  exitsWith(tt, run, 3);
  tt.match(run.json.error.message, /Kerio Connect was not found/);
  const simulated = await runCli(['status', '--root', empty, '--simulate', '--json']);
  exitsWith(tt, simulated, 3);
  tt.same(await hashTree(empty), {}, 'the empty root stays empty');
});

// ------------------------------------------------------------------ fast: no prompt library, no hashing

/**
 * A preload that records, into a trace file, every module URL Node resolves and the
 * number of bytes every sha256/other hash is fed.
 */
async function tracer(tt: Test): Promise<{ trace: string; env: NodeJS.ProcessEnv; read: () => Promise<{ modules: string[]; hashedBytes: number }> }> {
  const dir = await tempDir(tt, 'kerio-dcc-trace-');
  const trace = path.join(dir, 'trace.log');
  await writeFile(trace, '');
  await writeFile(
    path.join(dir, 'hooks.mjs'),
    [
      "import { appendFileSync } from 'node:fs';",
      'let trace;',
      'export function initialize(data) { trace = data.trace; }',
      'export async function resolve(specifier, context, next) {',
      '  const result = await next(specifier, context);',
      '  appendFileSync(trace, `module ${result.url}\\n`);',
      '  return result;',
      '}',
    ].join('\n'),
  );
  await writeFile(
    path.join(dir, 'preload.mjs'),
    [
      "import { appendFileSync } from 'node:fs';",
      "import crypto from 'node:crypto';",
      "import { register, syncBuiltinESMExports } from 'node:module';",
      `const trace = ${JSON.stringify(trace)};`,
      "register(new URL('./hooks.mjs', import.meta.url), { data: { trace } });",
      'const createHash = crypto.createHash;',
      'crypto.createHash = function (...args) {',
      '  const hash = createHash.apply(this, args);',
      '  const update = hash.update;',
      '  hash.update = function (data, encoding) {',
      "    appendFileSync(trace, `hash ${Buffer.byteLength(data, typeof encoding === 'string' ? encoding : undefined)}\\n`);",
      '    return update.call(this, data, encoding);',
      '  };',
      '  return hash;',
      '};',
      'syncBuiltinESMExports();',
    ].join('\n'),
  );
  const env = { NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import=${pathToFileURL(path.join(dir, 'preload.mjs')).href}`.trim() };
  return {
    trace,
    env,
    read: async () => {
      const lines = (await readFile(trace, 'utf8')).split('\n');
      const modules = lines.filter((l) => l.startsWith('module ')).map((l) => l.slice('module '.length));
      const hashedBytes = lines.filter((l) => l.startsWith('hash ')).reduce((sum, l) => sum + Number(l.slice('hash '.length)), 0);
      return { modules, hashedBytes };
    },
  };
}

const INQUIRER = /\/node_modules\/(inquirer|@inquirer\/)/;

t.test('status does not load the prompt library and does not hash the rules folder', async (tt) => {
  const image = await installedImage(tt);
  // A large rule file that has nothing to do with DCC: hashing the folder would show at once.
  const filler = Buffer.from(`# filler rules\n${'header  FILLER_RULE  Subject =~ /filler/\n'.repeat(50_000)}`, 'latin1');
  await writeFile(path.join(rulesHost(image), '70_filler.cf'), filler);
  const { trace, env, read } = await tracer(tt);

  // The tracer must see inquirer and hashing when they do happen, or its silence proves nothing.
  const script = [
    "await import('inquirer');",
    `const { sha256 } = await import(${JSON.stringify(pathToFileURL(path.join(PROJECT, 'dist', 'fs', 'files.js')).href)});`,
    'sha256(Buffer.alloc(1000));',
  ].join('\n');
  const control = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: PROJECT, env: { ...process.env, ...env }, encoding: 'utf8' });
  tt.equal(control.status, 0, control.stderr);
  const controlSeen = await read();
  tt.ok(
    controlSeen.modules.some((m) => INQUIRER.test(m)),
    'the tracer records an import of inquirer',
  );
  tt.equal(controlSeen.hashedBytes, 1000, 'the tracer counts hashed bytes');
  await writeFile(trace, '');

  const run = await runCli(['status', '--root', image.root, '--simulate', '--json'], { env });
  exitsWith(tt, run, 0);
  const seen = await read();
  tt.ok(
    seen.modules.some((m) => m.endsWith('/dist/status/checks.js')),
    'the tracer saw status load its checks',
  );
  tt.same(
    seen.modules.filter((m) => INQUIRER.test(m)),
    [],
    'inquirer is never loaded',
  );
  tt.ok(seen.hashedBytes < filler.length, `hashed ${seen.hashedBytes} bytes, less than one ${filler.length}-byte rule file`);
});

t.test('--help and an unattended install do not load the prompt library either', async (tt) => {
  const image = await makeImage(tt);
  const { env, read, trace } = await tracer(tt);
  const help = await runCli(['--help'], { env });
  exitsWith(tt, help, 0);
  tt.same(
    (await read()).modules.filter((m) => INQUIRER.test(m)),
    [],
    'not for --help',
  );
  await writeFile(trace, '');
  const install = await runCli(['install', '--root', image.root, '--simulate', '--yes', '--json'], { env });
  exitsWith(tt, install, 0);
  const seen = await read();
  tt.ok(
    seen.modules.some((m) => m.endsWith('/dist/engine/apply.js')),
    'the tracer saw install apply its plan',
  );
  tt.same(
    seen.modules.filter((m) => INQUIRER.test(m)),
    [],
    'not for install --yes',
  );
});

// ------------------------------------------------------------------ doctor

t.test('doctor on a provisioned server whose DCC server answers exits 0 and reports the brand', async (tt) => {
  const image = await installedImage(tt);
  await editSimState(image, (state) => {
    state.dccproc = { mode: 'answers', brand: 'KerioTestBrand' };
  });
  const run = await doctor(image);
  exitsWith(tt, run, 0);
  tt.equal(run.json.data.dccproc.brand, 'KerioTestBrand');
  tt.equal(run.json.data.dccproc.version, '1.3.158', 'the simulated dccproc.exe prints the real version, on stderr');
  tt.equal(run.json.data.dccproc.serverId, 1000);
  tt.match(checkById(run, 'dcc-query').detail, /^server KerioTestBrand \(server-ID 1000\) answered: Body=0 Fuz1=0 Fuz2=0/);
  tt.same(
    checks(run).map((c) => c.id),
    [...STATUS_IDS, ...HAZARD_IDS, ...SELFTEST_IDS],
  );
  tt.same(drifted(run), []);
  const queries = run.json.commands.filter((c: { args: string[] }) => c.args.includes('-Q'));
  tt.equal(queries.length, 1, 'one query-only check');
  tt.notOk(
    run.json.commands.some((c: { args: string[] }) => c.args.some((a) => a.startsWith('-t'))),
    'never -t',
  );
  tt.same(
    run.json.commands.filter((c: { mutates: boolean }) => c.mutates),
    [],
  );
});

t.test('doctor exits 6 with the UDP 6277 firewall advice when no DCC server can be reached', async (tt) => {
  const image = await installedImage(tt);
  await editSimState(image, (state) => {
    state.dccproc = { mode: 'unreachable' };
  });
  const run = await doctor(image);
  exitsWith(tt, run, 6);
  tt.same(drifted(run), ['dcc-query']);
  const detail = checkById(run, 'dcc-query').detail;
  tt.match(detail, /dccproc says "no working DCC servers dcc1\.dcc-servers\.net/);
  tt.match(detail, /UDP port 6277: check the Windows Firewall rules kerio-dcc manages/);
  tt.match(detail, /any firewall between this server and the Internet; or the DCC servers are down/);
  tt.equal(run.json.data.dccproc.brand, null);
});

t.test('doctor exits 6 explaining the back-off when dccproc is waiting after a failure', async (tt) => {
  const image = await installedImage(tt);
  await editSimState(image, (state) => {
    state.dccproc = { mode: 'backoff', brand: 'unused' };
  });
  const run = await doctor(image);
  exitsWith(tt, run, 6);
  tt.same(drifted(run), ['dcc-query']);
  const detail = checkById(run, 'dcc-query').detail;
  tt.match(detail, /"continue not asking DCC 31 seconds after 1 failures"/);
  tt.match(detail, /Run kerio-dcc doctor again after 31 s/);
  tt.match(detail, /cdcc\.exe -h "C:\\sa\\etc\\dcc" RTT/);
});

t.test('doctor exits 6 saying no answer came within the timeout when dccproc hangs', async (tt) => {
  const image = await installedImage(tt);
  await editSimState(image, (state) => {
    state.dccproc = { mode: 'hangs' };
  });
  const run = await doctor(image, '--timeout', '3');
  exitsWith(tt, run, 6);
  tt.same(drifted(run), ['dcc-query']);
  tt.match(checkById(run, 'dcc-query').detail, /no answer within 3 s/);
});

t.test('doctor on an image without --simulate skips the self-test instead of failing it', async (tt) => {
  const image = await installedImage(tt);
  const run = await runCli(['doctor', '--root', image.root, '--json']);
  exitsWith(tt, run, 0);
  tt.equal(checkById(run, 'dccproc').ok, null);
  tt.same(run.json.commands, []);
});

t.test('doctor flags a byte-order mark at the start of a .cf or .pre file, naming the file', async (tt) => {
  const image = await installedImage(tt);
  const bom = Buffer.from([0xef, 0xbb, 0xbf]);
  for (const name of ['25_dcc.cf', 'v310.pre']) {
    const file = path.join(rulesHost(image), name);
    await writeFile(file, Buffer.concat([bom, await readFile(file)]));
  }
  const run = await doctor(image);
  exitsWith(tt, run, 6);
  // install removes a BOM from a file it patches, so status (the install plan, run read-only) calls those files drift too.
  tt.same(drifted(run), ['local-cf', 'v310-pre', 'bom']);
  tt.match(checkById(run, 'v310-pre').detail, /byte-order mark/);
  tt.equal(checkById(run, 'plugin').ok, true, 'the plugin line itself is in place');
  tt.match(checkById(run, 'bom').detail, '25_dcc.cf');
  tt.match(checkById(run, 'bom').detail, 'v310.pre');
  tt.notMatch(checkById(run, 'bom').detail, 'local.cf', 'a file without a BOM is not blamed');
});

t.test('doctor flags the DCC plugin loaded a second time in another .pre file, naming both places', async (tt) => {
  const image = await installedImage(tt);
  await writeFile(path.join(rulesHost(image), 'v320.pre'), '# another plugin file\r\n\r\nloadplugin Mail::SpamAssassin::Plugin::DCC\r\n', 'latin1');
  const run = await doctor(image);
  exitsWith(tt, run, 6);
  tt.same(drifted(run), ['plugin-once']);
  const detail = checkById(run, 'plugin-once').detail;
  tt.match(detail, 'v320.pre line 3');
  tt.match(detail, /v310\.pre line \d+/);
});

t.test('doctor flags use_dcc 0 in a .cf file, naming the file and line', async (tt) => {
  const image = await installedImage(tt);
  const file = path.join(rulesHost(image), '50_scores.cf');
  const lines = (await readFile(file, 'latin1')).split('\r\n');
  await writeFile(file, [...lines.slice(0, -1), 'use_dcc 0', ''].join('\r\n'), 'latin1');
  const run = await doctor(image);
  exitsWith(tt, run, 6);
  tt.same(drifted(run), ['use-dcc']);
  tt.match(checkById(run, 'use-dcc').detail, `50_scores.cf line ${lines.length}`);
});

t.test('doctor does not count a commented-out use_dcc 0 or loadplugin line', async (tt) => {
  const image = await installedImage(tt);
  await writeFile(path.join(rulesHost(image), '90_notes.cf'), '# use_dcc 0\r\n#loadplugin Mail::SpamAssassin::Plugin::DCC\r\n', 'latin1');
  const run = await doctor(image);
  exitsWith(tt, run, 0);
  tt.same(drifted(run), []);
});
