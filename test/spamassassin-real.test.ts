import { chmod, copyFile, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import t from 'tap';
import { disableZeroDccScores, restoreZeroDccScores } from '../src/patch/dccScore.js';
import { installLocalCf, uninstallLocalCf } from '../src/patch/localCf.js';
import type { PatchResult } from '../src/patch/result.js';
import { disableDccPlugin, enableDccPlugin } from '../src/patch/v310Pre.js';
import {
  bomVariant,
  crlfVariant,
  fileBytes,
  fixtureRulesDir,
  missingFixtureMessage,
  SPAMASSASSIN_MISSING,
  stubDccprocSource,
  systemSpamAssassin,
} from './helpers/fixtures.js';

const spamassassin = systemSpamAssassin();
const shippedRules = fixtureRulesDir('4.0.1');
const skip = !spamassassin ? SPAMASSASSIN_MISSING : !shippedRules ? missingFixtureMessage('4.0.1') : false;

/** What the stub dccproc answers; brand and metrics must come back in X-Spam-DCC. */
const STUB_DCC_HEADER = 'KerioDccStub: stub.example 1234; bulk Body=many Fuz1=many Fuz2=many';

const MESSAGE = [
  'From: Sender <sender@example.com>',
  'To: Recipient <recipient@example.org>',
  'Subject: Quarterly newsletter',
  'Date: Mon, 01 Jan 2024 10:00:00 +0000',
  'Message-ID: <kerio-dcc-test-1@example.com>',
  '',
  'Hello, this message body is what DCC would checksum.',
  '',
].join('\n');

/** A scratch copy of the shipped rules made to look like Kerio's: CRLF, a BOM in local.cf, and Kerio's zero score. */
async function kerioLikeRules(work: string): Promise<string> {
  const rules = path.join(work, 'rules');
  await cp(shippedRules!, rules, { recursive: true });
  await chmod(rules, 0o755);
  for (const name of await readdir(rules)) {
    const file = path.join(rules, name);
    await chmod(file, 0o644);
    if (/\.(cf|pre)$/.test(name)) await writeFile(file, crlfVariant(await readFile(file)));
  }
  const localCf = path.join(rules, 'local.cf');
  await writeFile(localCf, bomVariant(Buffer.concat([await readFile(localCf), fileBytes('score DCC_CHECK 0\r\n')])));
  return rules;
}

async function patchFile(file: string, patch: (bytes: Buffer) => PatchResult): Promise<boolean> {
  const result = patch(await readFile(file));
  if (result.changed) await writeFile(file, result.bytes);
  return result.changed;
}

async function snapshot(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const name of (await readdir(dir)).sort()) files.set(name, await readFile(path.join(dir, name)));
  return files;
}

t.test('the real SpamAssassin 4.0.1 engine runs DCC once the rules folder is patched', { skip }, async (t) => {
  const timings: string[] = [];
  const started = Date.now();
  const timed = async <T>(what: string, step: () => Promise<T>): Promise<T> => {
    const at = Date.now();
    try {
      return await step();
    } finally {
      timings.push(`${what}: ${((Date.now() - at) / 1000).toFixed(1)} s`);
    }
  };
  t.teardown(() => {
    const seconds = (Date.now() - started) / 1000;
    if (seconds > 30) t.comment(`slow real-SpamAssassin test (${seconds.toFixed(1)} s): ${timings.join('; ')}`);
  });

  const work = await mkdtemp(path.join(tmpdir(), 'kerio-dcc-sa-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const rules = await kerioLikeRules(work);
  const emptySiteDir = path.join(work, 'site');
  const home = path.join(work, 'home');
  const dccHome = path.join(work, 'dcc');
  const bin = path.join(work, 'bin');
  const dccproc = path.join(bin, 'dccproc');
  const userPrefs = path.join(work, 'user_prefs');
  for (const dir of [emptySiteDir, home, dccHome, bin]) await mkdir(dir);
  await writeFile(path.join(dccHome, 'map'), Buffer.from([0x44, 0x43, 0x43, 0x00, 0x01]));
  await writeFile(userPrefs, '');
  await copyFile(stubDccprocSource, dccproc);
  await chmod(dccproc, 0o755);
  const stubLog = path.join(dccHome, 'stub-dccproc.log');

  // Only the scratch rules folder is config: the site folder is empty, user prefs and HOME are scratch.
  // DNS is switched off (DCC does not use it) so a host without DNS cannot make the scan slow.
  const configArgs = ['-C', rules, `--siteconfigpath=${emptySiteDir}`, '-p', userPrefs, '--cf=dns_available no'];
  const env = { HOME: home, PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}` };
  const run = (args: string[], input?: string) =>
    execa(spamassassin!.bin, [...configArgs, ...args], { input: input ?? '', env, reject: false, timeout: 60_000 });
  const scan = () => run([], MESSAGE);
  const stderrOf = (r: { stderr: string }) => (r.stderr.trim() ? `; stderr: ${r.stderr.trim()}` : '');
  const headerBlock = (out: string) => out.slice(0, out.indexOf('\n\n')).replace(/\n[ \t]+/g, ' ');

  const before = await snapshot(rules);

  await t.test('as Kerio ships it, the engine neither asks DCC nor adds the DCC header', async (t) => {
    const lint = await timed('lint before', () => run(['--lint']));
    t.not(lint.exitCode, 0, 'lint fails as shipped');
    t.match(lint.stderr, /failed to parse line in .*local\.cf \(line 1\)/, 'the byte-order mark breaks the first line of local.cf');

    const result = await timed('scan before', scan);
    t.equal(result.exitCode, 0, `spamassassin scanned the message${stderrOf(result)}`);
    const headers = headerBlock(result.stdout);
    t.match(headers, /^X-Spam-Status: /m, 'SpamAssassin did scan the message');
    t.notMatch(headers, /^X-Spam-DCC:/m, 'no X-Spam-DCC header');
    t.notMatch(headers, /\bDCC_CHECK\b/, 'no DCC_CHECK hit');
    await t.rejects(readFile(stubLog), { code: 'ENOENT' }, 'dccproc was never run');
  });

  await t.test('after patching local.cf, every .cf and v310.pre, lint passes and DCC_CHECK fires', async (t) => {
    const dcc = { home: dccHome, dccproc, extraLines: [] };
    t.ok(await patchFile(path.join(rules, 'local.cf'), (b) => installLocalCf(b, dcc)), 'local.cf changed');
    const zeroed: string[] = [];
    for (const name of (await readdir(rules)).filter((n) => n.endsWith('.cf'))) {
      if (await patchFile(path.join(rules, name), disableZeroDccScores)) zeroed.push(name);
    }
    t.same(zeroed, ['local.cf'], "only local.cf had a zero DCC score (Kerio's line)");
    t.ok(await patchFile(path.join(rules, 'v310.pre'), enableDccPlugin), 'v310.pre changed');

    const lint = await timed('lint after', () => run(['--lint']));
    t.equal(lint.exitCode, 0, `lint passes${stderrOf(lint)}`);

    const result = await timed('scan after', scan);
    t.equal(result.exitCode, 0, `spamassassin scanned the message${stderrOf(result)}`);
    const headers = headerBlock(result.stdout);
    const dccHeader = /^X-Spam-DCC: (.*)$/m.exec(headers)?.[1];
    t.equal(dccHeader, STUB_DCC_HEADER, 'X-Spam-DCC carries the brand and metrics dccproc gave');
    t.match(headers, /^X-Spam-Status: .*\btests=[^\n]*\bDCC_CHECK\b/m, 'DCC_CHECK is among the hits');

    const calls = (await readFile(stubLog, 'utf8')).trim().split('\n');
    t.equal(calls.length, 1, 'dccproc ran once for the one message');
    const expectedStart = `-C -x 0 -h ${dccHome} `;
    t.equal(calls[0]?.slice(0, expectedStart.length), expectedStart, 'SpamAssassin 4.0.1 passes dcc_home to dccproc with -h');
  });

  await t.test('undoing every patch gives back the folder byte for byte, except the removed byte-order mark', async (t) => {
    await patchFile(path.join(rules, 'local.cf'), uninstallLocalCf);
    for (const name of (await readdir(rules)).filter((n) => n.endsWith('.cf'))) {
      await patchFile(path.join(rules, name), restoreZeroDccScores);
    }
    await patchFile(path.join(rules, 'v310.pre'), disableDccPlugin);
    const after = await snapshot(rules);
    t.same([...after.keys()], [...before.keys()], 'the same files');
    for (const [name, bytes] of before) {
      const expected = name === 'local.cf' ? bytes.subarray(3) : bytes;
      t.ok(after.get(name)!.equals(expected), `${name} is as it was`);
    }
  });
});
