import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { SCHEMA } from '../src/answers/schema.js';
import type { Image } from '../src/demo/image.js';
import { hashTree, inImage, makeImage, PROJECT, runCli, tempDir, type CliResult } from './helpers/cli.js';

const TEMPLATE = path.join(PROJECT, 'templates', 'answers.ini');
const CORPUS = path.join(PROJECT, 'test', 'fixtures', 'answers');
const SIM_STATE = 'C:\\ProgramData\\kerio-dcc\\simulated-system.json';
const MAX_ANSWERS_BYTES = 256 * 1024;

interface BadAnswersCase {
  file: string;
  why: string;
  exitCode: number;
  messages: string[];
  copies?: Array<{ from: string; to: string }>;
}

const corpus: { cases: BadAnswersCase[] } = JSON.parse(await readFile(path.join(CORPUS, 'cases.json'), 'utf8'));

function install(image: Image, answers: string, ...extra: string[]): Promise<CliResult> {
  return runCli(['install', '--root', image.root, '--simulate', '--yes', '--answers', answers, ...extra]);
}

/** An answers file beside the image (not inside it, so the image's tree hash is only the server's files). */
async function answersFile(t: Test, content: string | Buffer): Promise<string> {
  const file = path.join(await tempDir(t, 'kerio-dcc-answers-'), 'dcc.ini');
  await writeFile(file, content);
  return file;
}

function exitsWith(t: Test, run: CliResult, code: number): void {
  t.equal(run.code, code, `exits ${code}`, { stderr: run.stderr });
}

function textLines(bytes: Buffer): string[] {
  return bytes.toString('latin1').split(/\r?\n/);
}

function managedBlock(lines: string[]): string[] {
  const begin = lines.indexOf('# BEGIN kerio-dcc');
  const end = lines.indexOf('# END kerio-dcc');
  return begin === -1 || end < begin ? [] : lines.slice(begin, end + 1);
}

async function localCf(image: Image): Promise<Buffer> {
  return readFile(inImage(image.root, `${image.rulesDir}\\local.cf`));
}

async function firewallRuleNames(image: Image): Promise<string[]> {
  const state = JSON.parse(await readFile(inImage(image.root, SIM_STATE), 'utf8'));
  return state.firewall.map((r: { name: string }) => r.name);
}

/** section.key of every key the template sets (a `key[] =` list counts as `key`), in file order. */
function templateKeys(text: string): string[] {
  let section = '';
  const keys: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) section = header[1]!;
    else {
      const name = line.slice(0, line.indexOf('=')).trim();
      const key = `${section}.${name.replace(/\[\]$/, '')}`;
      // A list's items (`key[] = a`, `key[] = b`) are one key.
      if (!(name.endsWith('[]') && keys.at(-1) === key)) keys.push(key);
    }
  }
  return keys;
}

t.test('`kerio-dcc answers` prints templates/answers.ini byte for byte', async (t) => {
  const run = await runCli(['answers']);
  exitsWith(t, run, 0);
  t.equal(run.stdout, await readFile(TEMPLATE, 'utf8'));
  t.equal(run.stderr, '');
});

t.test('every key of the template is known to the answers schema, and every schema key is in the template', async (t) => {
  const inTemplate = templateKeys(await readFile(TEMPLATE, 'utf8'));
  const inSchema = Object.entries(SCHEMA).flatMap(([section, keys]) => Object.keys(keys).map((k) => `${section}.${k}`));
  t.same([...inTemplate].sort(), [...inSchema].sort());
  t.equal(new Set(inTemplate).size, inTemplate.length, 'no key is set twice in the template');
});

t.test('the printed template, used as the answers file, installs exactly like no answers file', async (t) => {
  const template = await runCli(['answers']);
  const file = await answersFile(t, template.stdout);
  const [withTemplate, withDefaults] = await Promise.all([makeImage(t), makeImage(t)]);
  const [a, b] = await Promise.all([install(withTemplate, file), runCli(['install', '--root', withDefaults.root, '--simulate', '--yes'])]);
  exitsWith(t, a, 0);
  exitsWith(t, b, 0);
  t.ok((await localCf(withTemplate)).equals(await localCf(withDefaults)), 'local.cf is the same');
  t.same(await firewallRuleNames(withTemplate), await firewallRuleNames(withDefaults));
});

t.test('a file with many problems reports all of them at once, with section.key and line, and changes nothing', async (t) => {
  const image = await makeImage(t);
  const before = await hashTree(image.root);
  const file = path.join(CORPUS, 'several-problems.ini');
  const [human, json] = await Promise.all([install(image, file), install(image, file, '--json')]);
  exitsWith(t, human, 2);
  exitsWith(t, json, 2);
  const problems = human.stderr.split('\n').filter((l) => l.startsWith('  - '));
  t.same(
    problems.map((p) => /^ {2}- (\S+ \(line \d+\))/.exec(p)?.[1]),
    [
      'kerio.instal_dir (line 3)',
      'kerio.service (line 4)',
      'dcc.home (line 8)',
      'dcc.dccproc (line 9)',
      'firewall.enabled (line 12)',
      'service.timeout_seconds (line 15)',
      'backup.dir (line 18)',
      'dns (line 20)',
    ],
    'unknown key, duplicate, relative path, line break in a value, bad bool, bad number, inline comment in a path, unknown section',
  );
  t.match(problems.join('\n'), /instal_dir.*unknown key/);
  t.match(problems.join('\n'), /dcc\.dccproc.*control character/);
  t.match(problems.join('\n'), /backup\.dir.*; or #/);
  t.equal(json.json.ok, false);
  t.equal(json.json.exitCode, 2);
  t.match(json.json.error.message, /8 problems/);
  t.same(json.json.steps, [], 'no step was planned');
  t.same(await hashTree(image.root), before, 'no byte of the image changed');
});

t.test('each bad answers file of the corpus is refused with its exit code and message, and changes nothing', async (t) => {
  t.jobs = 2;
  t.ok(corpus.cases.length >= 20, 'the corpus has its cases');
  for (const c of corpus.cases) {
    t.test(`${c.file}: ${c.why}`, async (t) => {
      const image = await makeImage(t);
      for (const copy of c.copies ?? []) {
        const to = inImage(image.root, copy.to);
        await mkdir(path.dirname(to), { recursive: true });
        await copyFile(inImage(image.root, copy.from), to);
      }
      const before = await hashTree(image.root);
      const run = await install(image, path.join(CORPUS, c.file));
      exitsWith(t, run, c.exitCode);
      for (const fragment of c.messages) t.ok(run.stderr.includes(fragment), `the message says "${fragment}"`, { stderr: run.stderr });
      t.notMatch(run.stderr, /Unexpected error/);
      t.same(await hashTree(image.root), before, 'no byte of the image changed');
    });
  }
});

t.test('an answers file larger than 256 KiB is refused before it is parsed', async (t) => {
  const image = await makeImage(t);
  const before = await hashTree(image.root);
  const line = '; padding: an answers file this large is not an answers file\n';
  const huge = await answersFile(t, `[kerio]\n${line.repeat(Math.ceil((MAX_ANSWERS_BYTES + 1) / line.length))}`);
  const run = await install(image, huge);
  exitsWith(t, run, 2);
  t.match(run.stderr, /at most 262144 bytes/);
  t.same(await hashTree(image.root), before);
});

t.test('an answers file of exactly 256 KiB is still read', async (t) => {
  const image = await makeImage(t);
  const head = '[firewall]\nname_prefix = Sized DCC\n';
  const padding = ';'.repeat(MAX_ANSWERS_BYTES - head.length - 1) + '\n';
  const file = await answersFile(t, head + padding);
  const run = await install(image, file);
  exitsWith(t, run, 0);
  t.same(await firewallRuleNames(image), ['Sized DCC (UDP 6277 out)', 'Sized DCC (UDP 6277 in)']);
});

t.test('an answers file that does not exist, or is a folder, is a usage error', async (t) => {
  const image = await makeImage(t);
  const dir = await tempDir(t);
  const [missing, folder] = await Promise.all([install(image, path.join(dir, 'nope.ini')), install(image, dir)]);
  exitsWith(t, missing, 2);
  t.match(missing.stderr, /does not exist/);
  exitsWith(t, folder, 2);
  t.match(folder.stderr, /is not a file/);
});

t.test('a partial answers file takes the defaults for every key it leaves out', async (t) => {
  const image = await makeImage(t);
  const file = await answersFile(t, '[firewall]\nname_prefix = Corp DCC\n');
  const run = await install(image, file, '--json');
  exitsWith(t, run, 0);
  t.same(await firewallRuleNames(image), ['Corp DCC (UDP 6277 out)', 'Corp DCC (UDP 6277 in)']);
  const block = managedBlock(textLines(await localCf(image)));
  t.ok(block.includes('dcc_home C:\\sa\\etc\\dcc'), 'dcc.home default');
  t.ok(block.includes('dcc_path C:\\sa\\dccproc.exe'), 'dcc.dccproc default');
  t.match(run.json.backup, /^C:\\ProgramData\\kerio-dcc\\backups\\/, 'backup.dir default');
  t.ok(
    run.json.commands.some((c: { args: string[] }) => c.args.join(' ') === 'stop KerioMailServer'),
    'kerio.service default, service.restart default',
  );
});

t.test('an answers file saved by Notepad with a UTF-8 BOM works', async (t) => {
  const image = await makeImage(t);
  const file = await answersFile(t, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('[firewall]\r\nname_prefix = Notepad DCC\r\n')]));
  const run = await install(image, file);
  exitsWith(t, run, 0);
  t.same(await firewallRuleNames(image), ['Notepad DCC (UDP 6277 out)', 'Notepad DCC (UDP 6277 in)']);
});

t.test('a Windows answers file with CRLF line endings works, and no CR reaches a value', async (t) => {
  const image = await makeImage(t);
  const profile = 'C:\\Windows\\SysWOW64\\config\\systemprofile\\.spamassassin';
  const text = [
    '; written on the server with Notepad',
    '[kerio]',
    'service = KerioMailServer',
    '[dcc]',
    'home = C:\\sa\\etc\\dcc',
    `profile_dirs[] = ${profile}`,
    'extra_lines[] = dcc_timeout 10',
    '[firewall]',
    'name_prefix = CRLF DCC',
    '[service]',
    'timeout_seconds = 30',
    '',
  ].join('\r\n');
  const run = await install(image, await answersFile(t, text));
  exitsWith(t, run, 0);
  t.same(await firewallRuleNames(image), ['CRLF DCC (UDP 6277 out)', 'CRLF DCC (UDP 6277 in)']);
  const local = await localCf(image);
  t.notOk(local.includes('\r\r\n'), 'no doubled CR in local.cf');
  const block = managedBlock(textLines(local));
  t.ok(block.includes('dcc_timeout 10'));
  t.ok(block.includes('dcc_home C:\\sa\\etc\\dcc'));
  t.ok((await readFile(inImage(image.root, `${profile}\\map`))).length > 0, 'the map is in the listed profile folder');
});

t.test('extra_lines[] land inside the managed block, in order, and a changed list replaces them in place', async (t) => {
  const image = await makeImage(t);
  const first = await answersFile(t, '[dcc]\nextra_lines[] = dcc_timeout 10\nextra_lines[] = dcc_body_max 999999\n');
  exitsWith(t, await install(image, first), 0);
  let lines = textLines(await localCf(image));
  let block = managedBlock(lines);
  const timeout = block.indexOf('dcc_timeout 10');
  t.ok(timeout > 0, 'the first extra line is inside the block');
  t.equal(block[timeout + 1], 'dcc_body_max 999999', 'the second follows it');
  t.equal(block.at(-1), '# END kerio-dcc');

  const again = await install(image, first, '--json');
  exitsWith(t, again, 0);
  t.equal(again.json.changed, false, 'the same extra lines are unchanged on a second run');

  const second = await answersFile(t, '[dcc]\nextra_lines[] = dcc_timeout 20\n');
  exitsWith(t, await install(image, second), 0);
  lines = textLines(await localCf(image));
  block = managedBlock(lines);
  t.equal(lines.filter((l) => l === '# BEGIN kerio-dcc').length, 1, 'still one block');
  t.ok(block.includes('dcc_timeout 20'));
  t.notOk(lines.includes('dcc_timeout 10'), 'the old extra line is gone');
  t.notOk(lines.includes('dcc_body_max 999999'));
});

t.test('a non-ASCII dcc.home is refused with a message about the Windows code page', async (t) => {
  const image = await makeImage(t);
  const before = await hashTree(image.root);
  const run = await install(image, await answersFile(t, '[dcc]\nhome = C:\\DCC für Kerio\\etc\n'));
  exitsWith(t, run, 2);
  t.match(run.stderr, /dcc\.home \(line 2\).*non-ASCII.*code page/s);
  t.same(await hashTree(image.root), before);
});
