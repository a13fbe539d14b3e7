// The proof that install works, with nothing stubbed: `kerio-dcc install` on an image whose rules
// folder is SpamAssassin 4.0.1's real one (made to look like Kerio's), then Debian's real
// SpamAssassin 4.0.1 scans with those rules and the real DCC client (built from the unchanged
// DCC 1.3.158 source) asks a private dccd on 127.0.0.1 that has seen the message as bulk.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import t from 'tap';
import { stopwatch } from './helpers/stopwatch.js';
import { buildImage, DEMO_IMAGE } from '../src/demo/image.js';
import { inImage, kerioOnImage, succeeded, tempDir } from './helpers/cli.js';
import { clientHome, SERVER_ID, startDccServer } from './helpers/dccServer.js';
import { bomVariant, fixtureRulesDir, missingFixtureMessage, SPAMASSASSIN_MISSING, systemSpamAssassin } from './helpers/fixtures.js';
import { linuxDcc, linuxDccMissing } from './helpers/realDcc.js';

const spamassassin = systemSpamAssassin();
const shippedRules = fixtureRulesDir('4.0.1');
const skip = !spamassassin ? SPAMASSASSIN_MISSING : !shippedRules ? missingFixtureMessage('4.0.1') : linuxDccMissing();
const dcc = skip ? null : await linuxDcc();

/** Long enough for DCC's body and fuzzy checksums. */
const MESSAGE = [
  'From: Sender <sender@example.com>',
  'To: Recipient <recipient@example.org>',
  'Subject: Quarterly newsletter',
  'Date: Mon, 01 Jan 2024 10:00:00 +0000',
  'Message-ID: <kerio-dcc-test-1@example.com>',
  '',
  ...Array.from({ length: 20 }, (_, i) => `Line ${i + 1} of our quarterly newsletter: offers, discounts and news for every reader.`),
  '',
].join('\n');

t.test('after kerio-dcc install the real SpamAssassin 4.0.1 asks the real DCC server and DCC_CHECK fires', { skip }, async (t) => {
  const { timings, timed } = stopwatch();
  const started = Date.now();
  t.teardown(() => t.comment(`real SpamAssassin + DCC test: ${((Date.now() - started) / 1000).toFixed(1)} s (${timings.join('; ')})`));
  if (dcc!.builtMs) t.comment(`built the real Linux DCC in ${(dcc!.builtMs / 1000).toFixed(1)} s (cached for later runs)`);

  const server = await timed('start dccd', () => startDccServer(t, dcc!, { brand: 'KerioDccTest' }));
  const work = await tempDir(t, 'kerio-dcc-sa-');
  // Kerio's rules folder: SpamAssassin's own files, CRLF, Kerio's `score DCC_CHECK 0`, a BOM in local.cf.
  const image = await buildImage(path.join(work, 'image'), { ...DEMO_IMAGE, rulesFrom: shippedRules!, addKerioZeroScore: true });
  const rules = inImage(image.root, image.rulesDir);
  await writeFile(path.join(rules, 'local.cf'), bomVariant(await readFile(path.join(rules, 'local.cf'))));

  // install writes the server's Windows paths (dcc_home C:\..., dcc_path C:\...\dccproc.exe); here
  // the site config, read after the rules folder, points them at the real Linux client. Inside
  // ifplugin: before install the DCC plugin is not loaded and the lines are ignored.
  const dccHome = await clientHome(dcc!, path.join(work, 'dcc'), server.port);
  const site = path.join(work, 'site');
  const home = path.join(work, 'home');
  const userPrefs = path.join(work, 'user_prefs');
  for (const dir of [site, home]) await mkdir(dir);
  await writeFile(userPrefs, '');
  await writeFile(
    path.join(site, 'dcc-on-linux.cf'),
    ['ifplugin Mail::SpamAssassin::Plugin::DCC', `dcc_home ${dccHome}`, `dcc_path ${dcc!.dccproc}`, 'endif', ''].join('\n'),
  );

  // The private server sees the message as bulk: reported with the real dccproc, `-t many`.
  const messageFile = path.join(work, 'message.eml');
  await writeFile(messageFile, MESSAGE);
  const reported = await execa(dcc!.dccproc, ['-h', dccHome, '-t', 'many', '-x', '0', '-H', '-i', messageFile], { reject: false });
  t.match(reported.stdout, /^X-DCC-KerioDccTest-Metrics: \S+ 1000; bulk Body=many Fuz1=many Fuz2=many/m, `reported as bulk${reported.stderr}`);

  // Only the image's rules folder is config; DNS is off (DCC does not use it).
  const configArgs = ['-C', rules, `--siteconfigpath=${site}`, '-p', userPrefs, '--cf=dns_available no'];
  const run = (args: string[], input = '') =>
    execa(spamassassin!.bin, [...configArgs, ...args], { input, env: { HOME: home }, reject: false, timeout: 60_000 });
  const stderrOf = (r: { stderr: string }) => (r.stderr.trim() ? `; stderr: ${r.stderr.trim()}` : '');
  const headerBlock = (out: string) => out.slice(0, out.indexOf('\n\n')).replace(/\n[ \t]+/g, ' ');
  const scan = async (what: string) => {
    const result = await timed(what, () => run([], MESSAGE));
    t.equal(result.exitCode, 0, `spamassassin scanned the message${stderrOf(result)}`);
    const headers = headerBlock(result.stdout);
    t.match(headers, /^X-Spam-Status: /m, 'SpamAssassin did scan the message');
    return headers;
  };

  await t.test('as Kerio ships it, the engine neither asks DCC nor adds the DCC header', async (t) => {
    const lint = await timed('lint before', () => run(['--lint']));
    t.not(lint.exitCode, 0, 'lint fails as shipped');
    t.match(lint.stderr, /failed to parse line in .*local\.cf \(line 1\)/, 'the byte-order mark breaks the first line of local.cf');
    const before = await server.reports();
    const headers = await scan('scan before');
    t.notMatch(headers, /^X-Spam-DCC:/m, 'no X-Spam-DCC header');
    t.notMatch(headers, /\bDCC_CHECK\b/, 'no DCC_CHECK hit');
    t.equal(await server.reports(), before, 'the DCC server heard nothing');
  });

  await t.test('after kerio-dcc install, the real server answers in X-Spam-DCC and DCC_CHECK fires', async (t) => {
    succeeded(t, await timed('kerio-dcc install', () => kerioOnImage(image, ['install', '--yes'])), 'install');
    // local.cf names the Windows server's C:\ paths, which Linux SpamAssassin checks and cannot find.
    const lint = await timed('lint after', () => run(['--lint']));
    const issues = lint.stderr.split('\n').filter((l) => /\bwarn: /.test(l) && !/lint: \d+ issues detected/.test(l));
    t.same(
      issues.filter((l) => !/invalid 'dcc_(home|path)' value in .*local\.cf .*: dcc_(home|path) C:/.test(l)),
      [],
      `lint finds nothing but the Windows paths${stderrOf(lint)}`,
    );
    t.equal(issues.length, 2, 'dcc_home and dcc_path');
    const before = await server.reports();
    const headers = await scan('scan after');
    const dccHeader = /^X-Spam-DCC: (.*)$/m.exec(headers)?.[1];
    t.match(
      dccHeader,
      new RegExp(`^KerioDccTest: \\S+ ${SERVER_ID}; Body=many Fuz1=many Fuz2=many$`),
      "X-Spam-DCC carries the real server's brand, ID and counts",
    );
    t.match(headers, /^X-Spam-Status: .*\btests=[^\n]*\bDCC_CHECK\b/m, 'DCC_CHECK is among the hits');
    // SpamAssassin runs dccproc without -Q: a mail filter reports each message it scans.
    // (A busy machine can make dccproc send its report again, and dccd counts both.)
    const after = await server.reports();
    t.ok(after > before, `SpamAssassin reported the message to the server (${before} -> ${after})`);
  });

  await t.test('after kerio-dcc uninstall the engine no longer asks DCC', async (t) => {
    succeeded(t, await timed('kerio-dcc uninstall', () => kerioOnImage(image, ['uninstall', '--yes'])), 'uninstall');
    const before = await server.reports();
    const headers = await scan('scan after uninstall');
    t.notMatch(headers, /^X-Spam-DCC:/m, 'no X-Spam-DCC header');
    t.notMatch(headers, /\bDCC_CHECK\b/, 'no DCC_CHECK hit');
    t.equal(await server.reports(), before, 'the DCC server heard nothing');
  });
});
