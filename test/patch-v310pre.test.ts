import { readFileSync } from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { BOM_REMOVED_NOTE } from '../src/patch/result.js';
import { activeDccLoadplugins, ADDED_COMMENT, DCC_LOADPLUGIN, disableDccPlugin, enableDccPlugin } from '../src/patch/v310Pre.js';
import { bomVariant, crlfVariant, differingIndexes, fileBytes, fixtureRulesDir, linesOf, missingFixtureMessage, SA_VERSIONS } from './helpers/fixtures.js';

const UPSTREAM_COMMENTED = '#loadplugin Mail::SpamAssassin::Plugin::DCC';

/** Checks enable, disable and their idempotence on one file in which line `index` is the commented DCC line. */
function assertUncommentsOnly(t: Test, original: Buffer, index: number, label: string): void {
  const eol = linesOf(original)[index]!.endsWith('\r\n') ? '\r\n' : '\n';
  const enabled = enableDccPlugin(original);
  const before = linesOf(original);
  const after = linesOf(enabled.bytes);
  t.same(differingIndexes(before, after), [index], `${label}: only the DCC loadplugin line changes`);
  t.equal(after[index], DCC_LOADPLUGIN + eol, `${label}: the line is uncommented, its ending kept`);
  t.same(enabled.notes, [`uncommented line ${index + 1}: ${DCC_LOADPLUGIN}`], `${label}: the note names the line`);
  t.same(activeDccLoadplugins(enabled.bytes), [index + 1], `${label}: status sees DCC loaded once`);
  const again = enableDccPlugin(enabled.bytes);
  t.equal(again.changed, false, `${label}: enabling again changes nothing`);
  t.ok(again.bytes.equals(enabled.bytes), `${label}: enable is idempotent`);

  const disabled = disableDccPlugin(enabled.bytes);
  t.ok(disabled.bytes.equals(original), `${label}: disable gives back the exact original bytes`);
  t.same(disabled.notes, [`commented out line ${index + 1}: ${UPSTREAM_COMMENTED}`], `${label}: the note names the line`);
  t.ok(disableDccPlugin(disabled.bytes).bytes.equals(original), `${label}: disable is idempotent`);
}

for (const version of SA_VERSIONS) {
  const dir = fixtureRulesDir(version);
  t.test(`SpamAssassin ${version}: the shipped v310.pre`, { skip: dir ? false : missingFixtureMessage(version) }, async (t) => {
    const shipped = readFileSync(path.join(dir!, 'v310.pre'));
    const lines = linesOf(shipped);
    const dccIndex = lines.indexOf(UPSTREAM_COMMENTED + '\n');
    const describeIndex = lines.indexOf('# DCC - perform DCC message checks.\n');

    t.test('holds the upstream DCC lines this project relies on', async (t) => {
      t.ok(dccIndex >= 0, 'the commented loadplugin line is there');
      t.ok(describeIndex >= 0 && describeIndex < dccIndex, 'the DCC description comes before it');
      t.same(activeDccLoadplugins(shipped), [], 'DCC is not loaded as shipped');
    });

    t.test('as shipped (LF): only the loadplugin line is uncommented, and disable restores it', async (t) => {
      assertUncommentsOnly(t, shipped, dccIndex, 'LF');
    });

    t.test('as CRLF: only the loadplugin line changes and every line stays CRLF', async (t) => {
      const crlf = crlfVariant(shipped);
      assertUncommentsOnly(t, crlf, dccIndex, 'CRLF');
      t.ok(
        linesOf(enableDccPlugin(crlf).bytes).every((l) => l.endsWith('\r\n')),
        'no LF-only line appears',
      );
    });

    t.test('with a byte-order mark: the mark is removed and reported, the plugin enabled', async (t) => {
      const result = enableDccPlugin(bomVariant(shipped));
      t.same(differingIndexes(lines, linesOf(result.bytes)), [dccIndex]);
      t.same(result.notes, [BOM_REMOVED_NOTE, `uncommented line ${dccIndex + 1}: ${DCC_LOADPLUGIN}`]);
      t.ok(enableDccPlugin(result.bytes).bytes.equals(result.bytes), 'idempotent');
      t.ok(disableDccPlugin(result.bytes).bytes.equals(shipped), 'disable gives the file without the mark');
    });

    t.test('without the DCC line: one is appended with a comment, and disable takes both away', async (t) => {
      for (const [variant, original] of [
        ['LF', fileBytes(lines.filter((_, i) => i !== dccIndex).join(''))],
        ['CRLF', crlfVariant(fileBytes(lines.filter((_, i) => i !== dccIndex).join('')))],
      ] as const) {
        const eol = variant === 'CRLF' ? '\r\n' : '\n';
        const enabled = enableDccPlugin(original);
        const before = linesOf(original);
        const after = linesOf(enabled.bytes);
        t.same(after.slice(0, before.length), before, `${variant}: every existing line is kept`);
        t.same(after.slice(before.length), [ADDED_COMMENT + eol, DCC_LOADPLUGIN + eol], `${variant}: comment and line appended`);
        t.same(activeDccLoadplugins(enabled.bytes), [before.length + 2]);
        t.ok(enableDccPlugin(enabled.bytes).bytes.equals(enabled.bytes), `${variant}: idempotent`);
        const disabled = disableDccPlugin(enabled.bytes);
        t.ok(disabled.bytes.equals(original), `${variant}: disable gives back the exact original bytes`);
        t.ok(disableDccPlugin(disabled.bytes).bytes.equals(original), `${variant}: disable is idempotent`);
      }
    });

    t.test('already loaded: nothing changes', async (t) => {
      const active = enableDccPlugin(shipped).bytes;
      const result = enableDccPlugin(active);
      t.equal(result.changed, false);
      t.ok(result.bytes.equals(active));
      t.same(result.notes, []);
    });
  });
}

const tolerated: [string, string][] = [
  ['##loadplugin Mail::SpamAssassin::Plugin::DCC', 'loadplugin Mail::SpamAssassin::Plugin::DCC'],
  ['# loadplugin Mail::SpamAssassin::Plugin::DCC', 'loadplugin Mail::SpamAssassin::Plugin::DCC'],
  ['  #  loadplugin   Mail::SpamAssassin::Plugin::DCC', 'loadplugin   Mail::SpamAssassin::Plugin::DCC'],
  ['\t#\tloadplugin\tMail::SpamAssassin::Plugin::DCC\t ', 'loadplugin\tMail::SpamAssassin::Plugin::DCC\t '],
  ['# # loadplugin Mail::SpamAssassin::Plugin::DCC', 'loadplugin Mail::SpamAssassin::Plugin::DCC'],
  ['#LoadPlugin Mail::SpamAssassin::Plugin::DCC', 'LoadPlugin Mail::SpamAssassin::Plugin::DCC'],
  ['#LOADPLUGIN Mail::SpamAssassin::Plugin::DCC   # off for now', 'LOADPLUGIN Mail::SpamAssassin::Plugin::DCC   # off for now'],
  ['#loadplugin Mail::SpamAssassin::Plugin::DCC#no space', 'loadplugin Mail::SpamAssassin::Plugin::DCC#no space'],
];

t.test('commented DCC lines in any spacing are uncommented, keeping the rest of the line', async (t) => {
  for (const [line, expected] of tolerated) {
    for (const eol of ['\n', '\r\n']) {
      const [describe, pyzor] = ['# DCC - perform DCC message checks.', 'loadplugin Mail::SpamAssassin::Plugin::Pyzor'];
      const original = fileBytes(`${describe}${eol}${line}${eol}${pyzor}${eol}`);
      const result = enableDccPlugin(original);
      t.same(linesOf(result.bytes), [describe + eol, expected + eol, pyzor + eol], JSON.stringify(line));
      t.same(activeDccLoadplugins(result.bytes), [2], `status sees ${JSON.stringify(expected)} as loading DCC`);
      t.ok(enableDccPlugin(result.bytes).bytes.equals(result.bytes), `idempotent for ${JSON.stringify(line)}`);
      const disabled = disableDccPlugin(result.bytes).bytes;
      t.same(activeDccLoadplugins(disabled), [], `disabled again for ${JSON.stringify(line)}`);
      t.ok(disableDccPlugin(disabled).bytes.equals(disabled), `disable idempotent for ${JSON.stringify(line)}`);
    }
  }
});

const notDcc: [string, string][] = [
  ['#loadplugin Mail::SpamAssassin::Plugin::DCCx', 'another module whose name starts the same'],
  ['#loadplugin Mail::SpamAssassin::Plugin::DCC::Extra', 'a sub-module'],
  ['#loadplugin mail::spamassassin::plugin::dcc', 'the module name in another case (Perl module names are case-sensitive)'],
  ['# DCC - perform DCC message checks.', 'the description comment'],
  ['# DCC is disabled here because it is not open source.  See the DCC', 'the licence comment'],
  ['#loadplugin Mail::SpamAssassin::Plugin::Pyzor', 'another plugin'],
  ['#loadplugin Mail::SpamAssassin::Plugin::DCC /opt/x/DCC.pm', 'a commented line with a path, which may not exist'],
];

t.test('lines that are not a commented DCC loadplugin are never uncommented', async (t) => {
  for (const [line, why] of notDcc) {
    const original = fileBytes(`${line}\n`);
    const result = enableDccPlugin(original);
    const after = linesOf(result.bytes);
    t.equal(after[0], `${line}\n`, `${why}: line kept`);
    t.same(after.slice(1), [ADDED_COMMENT + '\n', DCC_LOADPLUGIN + '\n'], `${why}: the loadplugin line is appended instead`);
  }
});

t.test('of several commented DCC lines only the first is uncommented', async (t) => {
  const original = fileBytes(`${UPSTREAM_COMMENTED}\n# again:\n## loadplugin Mail::SpamAssassin::Plugin::DCC\n`);
  const result = enableDccPlugin(original);
  t.same(differingIndexes(linesOf(original), linesOf(result.bytes)), [0]);
  t.same(activeDccLoadplugins(result.bytes), [1]);
});

t.test('an active line anywhere counts as loaded: enable adds nothing, status lists every loading line', async (t) => {
  const withPath = 'loadplugin Mail::SpamAssassin::Plugin::DCC /usr/share/perl5/Mail/SpamAssassin/Plugin/DCC.pm';
  const original = fileBytes(`${UPSTREAM_COMMENTED}\n  ${DCC_LOADPLUGIN}\n${withPath}\n`);
  t.same(activeDccLoadplugins(original), [2, 3], 'both loading lines are reported, so doctor can say it is loaded twice');
  const result = enableDccPlugin(original);
  t.equal(result.changed, false);
  t.ok(result.bytes.equals(original));
});

t.test('disable comments out every active DCC line with a leading #', async (t) => {
  const pyzor = 'loadplugin Mail::SpamAssassin::Plugin::Pyzor';
  const indented = `  ${DCC_LOADPLUGIN} # twice`;
  const original = fileBytes(`${DCC_LOADPLUGIN}\r\n${pyzor}\r\n${indented}\r\n`);
  const result = disableDccPlugin(original);
  t.equal(result.bytes.toString('latin1'), `#${DCC_LOADPLUGIN}\r\n${pyzor}\r\n#${indented}\r\n`);
  t.same(result.notes, [`commented out line 1: #${DCC_LOADPLUGIN}`, `commented out line 3: #${indented}`]);
  t.same(activeDccLoadplugins(result.bytes), []);
});

t.test('appending to a file whose last line is unterminated terminates it first', async (t) => {
  const result = enableDccPlugin(fileBytes('loadplugin Mail::SpamAssassin::Plugin::Pyzor'));
  t.equal(result.bytes.toString('latin1'), `loadplugin Mail::SpamAssassin::Plugin::Pyzor\n${ADDED_COMMENT}\n${DCC_LOADPLUGIN}\n`);
});

t.test('an empty v310.pre gets the loadplugin line', async (t) => {
  const result = enableDccPlugin(Buffer.alloc(0));
  t.equal(result.bytes.toString('latin1'), `${ADDED_COMMENT}\n${DCC_LOADPLUGIN}\n`);
  t.ok(disableDccPlugin(result.bytes).bytes.equals(Buffer.alloc(0)), 'disable empties it again');
});

t.test('disable comments out a DCC loadplugin line it did not add, and keeps the line before it', async (t) => {
  const original = Buffer.from(`# DCC - perform DCC message checks.\n${DCC_LOADPLUGIN}\n`, 'latin1');
  const result = disableDccPlugin(original);
  t.equal(result.bytes.toString('latin1'), `# DCC - perform DCC message checks.\n#${DCC_LOADPLUGIN}\n`, "only kerio-dcc's own pair is ever removed");
});

t.test("disable removes only kerio-dcc's exact pair: a line changed since, after kerio-dcc's comment, is commented out", async (t) => {
  const edited = `${DCC_LOADPLUGIN} # keep`;
  const original = Buffer.from(`body X /x/\n${ADDED_COMMENT}\n${edited}\n`, 'latin1');
  const result = disableDccPlugin(original);
  t.equal(result.bytes.toString('latin1'), `body X /x/\n${ADDED_COMMENT}\n#${edited}\n`);
});

t.test('enable appends exactly a kerio-dcc comment and the loadplugin line when there is nothing to uncomment', async (t) => {
  const result = enableDccPlugin(Buffer.from('body X /x/\n', 'latin1'));
  t.equal(
    result.bytes.toString('latin1'),
    'body X /x/\n# kerio-dcc added the next line: this file had no DCC loadplugin line to uncomment.\nloadplugin Mail::SpamAssassin::Plugin::DCC\n',
  );
});
