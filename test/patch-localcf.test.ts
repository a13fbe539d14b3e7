import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { disableZeroDccScores, restoreZeroDccScores } from '../src/patch/dccScore.js';
import {
  BLOCK_BEGIN,
  BLOCK_END,
  findManagedBlock,
  installLocalCf,
  managedBlockLines,
  uninstallLocalCf,
  UnsafeSettingError,
  type DccSettings,
} from '../src/patch/localCf.js';
import { BOM_REMOVED_NOTE, PatchConflictError } from '../src/patch/result.js';
import { bomVariant, crlfVariant, differingIndexes, fileBytes, fixtureRulesDir, linesOf, missingFixtureMessage, SA_VERSIONS } from './helpers/fixtures.js';

const settings: DccSettings = { home: 'c:\\sa\\etc\\dcc', dccproc: 'c:\\sa\\dccproc.exe', extraLines: [] };
const moved: DccSettings = { home: 'D:\\DCC\\home', dccproc: 'D:\\DCC\\dccproc.exe', extraLines: ['dcc_timeout 10'] };

/** The block exactly as it must appear for `s`, with the given line ending. */
function blockText(s: DccSettings, eol: string): string {
  return managedBlockLines(s)
    .map((l) => l + eol)
    .join('');
}

t.test('the managed block holds the settings from the how-to, plugin settings inside ifplugin', async (t) => {
  t.same(managedBlockLines({ ...settings, extraLines: ['dcc_timeout 10', 'score DCC_CHECK 2.2'] }), [
    BLOCK_BEGIN,
    '# Managed by kerio-dcc: edits between these markers are overwritten.',
    'ifplugin Mail::SpamAssassin::Plugin::DCC',
    'dcc_home c:\\sa\\etc\\dcc',
    'dcc_path c:\\sa\\dccproc.exe',
    'use_dcc 1',
    'endif',
    'add_header all DCC _DCCB_: _DCCR_',
    'dcc_timeout 10',
    'score DCC_CHECK 2.2',
    BLOCK_END,
  ]);
});

for (const version of SA_VERSIONS) {
  const dir = fixtureRulesDir(version);
  t.test(`SpamAssassin ${version}: the shipped local.cf`, { skip: dir ? false : missingFixtureMessage(version) }, async (t) => {
    const shipped = readFileSync(path.join(dir!, 'local.cf'));

    for (const [variant, original, eol] of [
      ['LF', shipped, '\n'],
      ['CRLF', crlfVariant(shipped), '\r\n'],
    ] as const) {
      t.test(`${variant}: the block is appended, every existing byte kept, and uninstall restores the file`, async (t) => {
        const installed = installLocalCf(original, settings);
        t.equal(installed.changed, true);
        const expected = original.toString('latin1') + blockText(settings, eol);
        t.equal(installed.bytes.toString('latin1'), expected, 'original bytes, then the block');
        const first = linesOf(original).length + 1;
        const last = first + managedBlockLines(settings).length - 1;
        t.same(installed.notes, [`added the kerio-dcc block at the end of the file (lines ${first}-${last})`]);
        t.match(findManagedBlock(installed.bytes, settings), { present: true, current: true, beginLine: first });

        const again = installLocalCf(installed.bytes, settings);
        t.equal(again.changed, false, 'installing the same settings again changes nothing');
        t.ok(again.bytes.equals(installed.bytes), 'bytes identical on a re-run');
        t.same(again.notes, []);

        const removed = uninstallLocalCf(installed.bytes);
        t.ok(removed.bytes.equals(original), 'uninstall gives back the exact original bytes');
        t.ok(uninstallLocalCf(removed.bytes).bytes.equals(original), 'uninstall is idempotent');
        t.match(findManagedBlock(removed.bytes, settings), { present: false, current: false, lines: [] });
      });

      t.test(`${variant}: with Kerio's \`score DCC_CHECK 0\`, a full install and uninstall gives back the exact bytes`, async (t) => {
        const kerio = Buffer.concat([original, fileBytes(`score DCC_CHECK 0${eol}`)]);
        const scoresOff = disableZeroDccScores(kerio);
        const installed = installLocalCf(scoresOff.bytes, settings);
        const zeroIndex = linesOf(kerio).length - 1;
        const aboveBlock = linesOf(installed.bytes).slice(0, zeroIndex + 1);
        t.same(differingIndexes(linesOf(kerio), aboveBlock), [zeroIndex], 'only the zero score line changed above the block');
        t.same(disableZeroDccScores(installed.bytes).changed, false, 'turning off scores again changes nothing');
        t.same(installLocalCf(installed.bytes, settings).changed, false, 'installing again changes nothing');
        const back = restoreZeroDccScores(uninstallLocalCf(installed.bytes).bytes);
        t.ok(back.bytes.equals(kerio), 'the exact original bytes, Kerio line included');
      });

      t.test(`${variant}: new settings replace the block in place, lines after it untouched`, async (t) => {
        const userLine = `required_score 6.0${eol}`;
        const withBlock = Buffer.concat([installLocalCf(original, settings).bytes, fileBytes(userLine)]);
        const updated = installLocalCf(withBlock, moved);
        t.equal(updated.changed, true);
        t.equal(updated.bytes.toString('latin1'), original.toString('latin1') + blockText(moved, eol) + userLine);
        const begin = linesOf(original).length + 1;
        const oldEnd = begin + managedBlockLines(settings).length - 1;
        const newEnd = begin + managedBlockLines(moved).length - 1;
        const note = `updated the kerio-dcc block (was lines ${begin}-${oldEnd}, now lines ${begin}-${newEnd}) to the current settings`;
        t.same(updated.notes, [note]);
        t.match(findManagedBlock(withBlock, moved), { present: true, current: false }, 'status sees the old block as out of date');
        t.match(findManagedBlock(updated.bytes, moved), { present: true, current: true });
        t.ok(installLocalCf(updated.bytes, moved).bytes.equals(updated.bytes), 'idempotent after an update');
        const uninstalled = uninstallLocalCf(updated.bytes).bytes.toString('latin1');
        t.equal(uninstalled, original.toString('latin1') + userLine, 'uninstall keeps the user line');
      });
    }

    t.test('with a byte-order mark: the mark is removed and reported', async (t) => {
      const result = installLocalCf(bomVariant(shipped), settings);
      t.equal(result.bytes.toString('latin1'), shipped.toString('latin1') + blockText(settings, '\n'));
      t.equal(result.notes[0], BOM_REMOVED_NOTE);
      t.equal(result.notes.length, 2);
      t.ok(installLocalCf(result.bytes, settings).bytes.equals(result.bytes), 'idempotent');
    });
  });
}

t.test('a missing local.cf is created holding just the block', async (t) => {
  const result = installLocalCf(null, settings);
  t.equal(result.changed, true);
  t.equal(result.bytes.toString('latin1'), blockText(settings, '\n'));
  t.same(result.notes, [`created the file with the kerio-dcc block (lines 1-${managedBlockLines(settings).length})`]);
  t.equal(uninstallLocalCf(result.bytes).bytes.length, 0, 'uninstall leaves an empty file');
});

t.test('an unterminated last line is terminated before the block, in the file’s own line ending', async (t) => {
  const result = installLocalCf(fileBytes('use_bayes 1\r\nrequired_score 5'), settings);
  t.equal(result.bytes.toString('latin1'), 'use_bayes 1\r\nrequired_score 5\r\n' + blockText(settings, '\r\n'));
});

t.test('a block that ends the file without a line break keeps it that way when replaced', async (t) => {
  const original = fileBytes('use_bayes 1\n' + blockText(settings, '\n').slice(0, -1));
  const result = installLocalCf(original, moved);
  t.equal(result.bytes.toString('latin1'), 'use_bayes 1\n' + blockText(moved, '\n').slice(0, -1));
});

t.test('markers are recognised with trailing spaces and CRLF, and a block with other line endings counts as current', async (t) => {
  const lines = managedBlockLines(settings);
  const messy = [`${lines[0]}  \t\r\n`, ...lines.slice(1, -1).map((l) => l + '\n'), `${lines.at(-1)} \r\n`].join('');
  const head = 'use_bayes 1\r\n'.repeat(lines.length);
  const original = fileBytes(head + messy);
  t.match(findManagedBlock(original, settings), { present: true, current: false }, 'trailing spaces on markers make it out of date');
  const result = installLocalCf(original, settings);
  t.equal(result.bytes.toString('latin1'), head + blockText(settings, '\r\n'), 'rewritten in the file’s dominant CRLF');
  t.ok(uninstallLocalCf(original).bytes.equals(fileBytes(head)), 'uninstall finds it too');

  // More CRLF lines than the block's LF lines, so that CRLF is the file's own ending.
  const mixed = fileBytes(`x 1\r\n${head}${blockText(settings, '\n')}`);
  const again = installLocalCf(mixed, settings);
  t.equal(again.changed, false, 'same text with LF endings in a CRLF file is left alone');
  t.ok(again.bytes.equals(mixed), 'byte for byte');
});

t.test('lines that only look like markers are not markers', async (t) => {
  const original = fileBytes(`  ${BLOCK_BEGIN}\n${BLOCK_BEGIN} (old)\n#${BLOCK_END}\n`);
  const result = installLocalCf(original, settings);
  t.equal(result.bytes.toString('latin1'), original.toString('latin1') + blockText(settings, '\n'));
});

const broken: [string, string, RegExp][] = [
  ['BEGIN without END', `a 1\n${BLOCK_BEGIN}\ndcc_home x\n`, /"# BEGIN kerio-dcc" on line 2 has no "# END kerio-dcc" after it/],
  ['END without BEGIN', `a 1\ndcc_home x\n${BLOCK_END}\n`, /"# END kerio-dcc" on line 3 has no "# BEGIN kerio-dcc" before it/],
  ['END before BEGIN', `${BLOCK_END}\nx\n${BLOCK_BEGIN}\n`, /"# END kerio-dcc" on line 1 comes before "# BEGIN kerio-dcc" on line 3/],
  [
    'two blocks',
    `${BLOCK_BEGIN}\n${BLOCK_END}\n${BLOCK_BEGIN}\n${BLOCK_END}\n`,
    /more than one kerio-dcc block: "# BEGIN kerio-dcc" on lines 1, 3, "# END kerio-dcc" on lines 2, 4/,
  ],
  ['BEGIN inside a block', `${BLOCK_BEGIN}\n${BLOCK_BEGIN}\n${BLOCK_END}\n`, /more than one kerio-dcc block/],
  [
    'END after a block',
    `${BLOCK_BEGIN}\n${BLOCK_END}\nx\n${BLOCK_END}\n`,
    /more than one kerio-dcc block: "# BEGIN kerio-dcc" on lines 1, "# END kerio-dcc" on lines 2, 4/,
  ],
];

t.test('broken markers stop every local.cf function with a message naming the lines and the fix', async (t) => {
  for (const [what, text, message] of broken) {
    for (const run of [
      () => installLocalCf(fileBytes(text), settings),
      () => uninstallLocalCf(fileBytes(text)),
      () => findManagedBlock(fileBytes(text), settings),
    ]) {
      t.throws(run, PatchConflictError, what);
      t.throws(run, { message }, `${what}: the message names the lines`);
      t.throws(run, { message: /Edit the file by hand .* or restore it from the backup/ }, `${what}: the message names the fix`);
    }
  }
});

const unsafe: [string, DccSettings, RegExp][] = [
  ['a line break in dcc_home', { ...settings, home: 'c:\\sa\nuse_dcc 0' }, /^dcc_home "c:\\sa\\nuse_dcc 0" contains a control character/],
  ['a carriage return in dcc_path', { ...settings, dccproc: 'c:\\sa\\dccproc.exe\r' }, /dcc_path .* control character/],
  ['a tab in dcc_home', { ...settings, home: 'c:\\sa\t' }, /dcc_home .* control character/],
  ['a line break in an extra line', { ...settings, extraLines: ['use_dcc 1\nscore DCC_CHECK 0'] }, /extra line 1 .* control character/],
  ['an empty dcc_home', { ...settings, home: '' }, /dcc_home needs a path/],
  ['a space at the end of dcc_path', { ...settings, dccproc: 'c:\\sa\\dccproc.exe ' }, /dcc_path .* starts or ends with a space/],
  ['a # in dcc_home', { ...settings, home: 'c:\\sa#1\\dcc' }, /dcc_home .* "#"/],
  ['a marker as an extra line', { ...settings, extraLines: ['use_dcc 1', `${BLOCK_END}  `] }, /extra line 2 "# END kerio-dcc {2}" is a kerio-dcc marker line/],
];

t.test('a setting that would not stay one safe line is refused before anything is written', async (t) => {
  for (const [what, s, message] of unsafe) {
    t.throws(() => installLocalCf(fileBytes('a 1\n'), s), UnsafeSettingError, what);
    t.throws(() => installLocalCf(null, s), { message }, `${what}: the message says why`);
    t.throws(() => managedBlockLines(s), UnsafeSettingError, `${what}: rendering refuses too`);
  }
});

t.test('paths with non-ASCII letters are written as given, in UTF-8 (a space never: see the short-name tests)', async (t) => {
  const home = 'C:\\PROGRA~1\\DCC-Müller';
  const s: DccSettings = { home, dccproc: `${home}\\dccproc.exe`, extraLines: ['# für Kerio 7.4'] };
  const result = installLocalCf(null, s);
  const text = result.bytes.toString('utf8');
  t.match(text, /^dcc_home C:\\PROGRA~1\\DCC-Müller$/m);
  t.match(text, /^dcc_path C:\\PROGRA~1\\DCC-Müller\\dccproc\.exe$/m);
  t.ok(result.bytes.includes(Buffer.from('Müller', 'utf8')), 'UTF-8 bytes, not latin1');
  t.match(findManagedBlock(result.bytes, s), { current: true, lines: managedBlockLines(s) }, 'status decodes the block back');
  t.equal(installLocalCf(result.bytes, s).changed, false, 'idempotent with non-ASCII values');
});

t.test('extra lines come after add_header, outside ifplugin, inside the block', async (t) => {
  const lines = managedBlockLines({ ...settings, extraLines: ['dcc_timeout 10', ''] });
  t.same(lines.slice(-4), ['add_header all DCC _DCCB_: _DCCR_', 'dcc_timeout 10', '', BLOCK_END]);
  t.ok(lines.indexOf('endif') < lines.indexOf('dcc_timeout 10'));
});

t.test('dcc_home/dcc_path lines SpamAssassin on Windows would split: found as its parser reads them', async (t) => {
  const { splitPronePathLines } = await import('../src/patch/localCf.js');
  const text = [
    'dcc_home C:\\Program Files\\DCC', // 1: by hand, a space
    '  DCC-PATH C:\\Program Files\\DCC\\dccproc.exe   # keys are case-free, - is _', // 2
    '# dcc_home C:\\Program Files\\DCC', // 3: a comment
    'dcc_home C:\\sa\\etc\\dcc # C:\\Program Files', // 4: the space is in the comment only
    'dcc_home C:\\50%\\dcc', // 5: cmd.exe expands %VAR%
    'dcc_homes C:\\a b', // 6: another key
    ...managedBlockLines(settings).slice(0, 3),
    'dcc_home C:\\in block\\dcc', // 10: inside the block (hand-edited)
    ...managedBlockLines(settings).slice(3),
  ].join('\r\n');
  const found = splitPronePathLines(fileBytes(`${text}\r\n`));
  t.same(
    found.map((f) => [f.line, f.directive, f.value, f.hazard, f.inBlock]),
    [
      [1, 'dcc_home', 'C:\\Program Files\\DCC', 'a space', false],
      [2, 'dcc_path', 'C:\\Program Files\\DCC\\dccproc.exe', 'a space', false],
      [5, 'dcc_home', 'C:\\50%\\dcc', 'a "%"', false],
      [10, 'dcc_home', 'C:\\in block\\dcc', 'a space', true],
    ],
  );
});

t.test('install turns off split-prone lines outside the block only, and uninstall gives them back byte for byte', async (t) => {
  const { disableSplitPronePaths } = await import('../src/patch/localCf.js');
  const original = fileBytes('use_bayes 1\r\ndcc_home C:\\Program Files\\DCC\r\ndcc_home C:\\sa\\etc\\dcc\r\n');
  const off = disableSplitPronePaths(original);
  t.ok(off.changed);
  t.equal(off.bytes.toString('latin1'), 'use_bayes 1\r\n#kerio-dcc-off# dcc_home C:\\Program Files\\DCC\r\ndcc_home C:\\sa\\etc\\dcc\r\n');
  t.match(off.notes[0], /turned off line 2: dcc_home C:\\Program Files\\DCC \(the path has a space/);
  t.equal(disableSplitPronePaths(off.bytes).changed, false, 'a second pass changes nothing');
  t.ok(restoreZeroDccScores(off.bytes).bytes.equals(original), "uninstall's restore gives the original bytes back");
  const inBlock = installLocalCf(fileBytes('x 1\n'), settings).bytes.toString('latin1').replace('dcc_home c:\\sa\\etc\\dcc', 'dcc_home C:\\a b');
  t.equal(disableSplitPronePaths(fileBytes(inBlock)).changed, false, 'a line inside the block is left to the block rewrite');
});

t.test('the block never holds a path SpamAssassin would split', async (t) => {
  t.throws(() => managedBlockLines({ ...settings, home: 'C:\\Program Files\\DCC' }), /internal: .* must be written as its short name/);
  t.throws(() => managedBlockLines({ ...settings, extraLines: ['dcc_path C:\\Program Files\\DCC\\dccproc.exe'] }), UnsafeSettingError);
  t.doesNotThrow(() => managedBlockLines({ ...settings, extraLines: ['dcc_timeout 10', 'dcc_home C:\\PROGRA~1\\DCC'] }));
});

t.test('a block between other lines: install replaces it, status reads it, uninstall removes it, the lines after it stay', async (t) => {
  const before = 'use_bayes 1\nrequired_score 5\n';
  const after = 'score X 1\nscore Y 2\nscore Z 3\n';
  const n = managedBlockLines(settings).length;
  const original = fileBytes(before + blockText(settings, '\n') + after);
  t.same(findManagedBlock(original, settings), { present: true, current: true, lines: managedBlockLines(settings), beginLine: 3, endLine: n + 2 });

  const replaced = installLocalCf(original, moved);
  t.equal(replaced.bytes.toString('latin1'), before + blockText(moved, '\n') + after);
  t.same(replaced.notes, [`updated the kerio-dcc block (was lines 3-${n + 2}, now lines 3-${managedBlockLines(moved).length + 2}) to the current settings`]);

  const removed = uninstallLocalCf(original);
  t.equal(removed.bytes.toString('latin1'), before + after);
  t.same(removed.notes, [`removed the kerio-dcc block (lines 3-${n + 2})`]);
});

t.test('without a block: install says where it added it, uninstall and status find nothing, and change nothing', async (t) => {
  const original = fileBytes('use_bayes 1\n');
  t.same(installLocalCf(original, settings).notes, [`added the kerio-dcc block at the end of the file (lines 2-${managedBlockLines(settings).length + 1})`]);
  const removed = uninstallLocalCf(original);
  t.equal(removed.changed, false);
  t.ok(removed.bytes.equals(original));
  t.same(removed.notes, []);
  t.same(findManagedBlock(original, settings), { present: false, current: false, lines: [] });
});

t.test('markers are recognised with any trailing blank, a vertical tab or a form feed too', async (t) => {
  const lines = managedBlockLines(settings);
  const original = fileBytes([`${lines[0]}\v`, ...lines.slice(1, -1), `${lines.at(-1)}\f`, ''].join('\n'));
  t.match(findManagedBlock(original, settings), { present: true, beginLine: 1, endLine: lines.length });
  t.equal(uninstallLocalCf(original).bytes.length, 0);
});

t.test('unsafeSettings lists every unsafe setting, each with its key and a readable value', async (t) => {
  const { unsafeSettings } = await import('../src/patch/localCf.js');
  t.same(unsafeSettings(settings), [], 'safe settings: nothing');
  const problems = unsafeSettings({ home: 'c:\\sa\r', dccproc: 'c:\\dcc\t\x01.exe', extraLines: ['use_dcc 1', 'use_dcc 0'] });
  t.same(
    problems.map((p) => p.setting),
    ['home', 'dccproc', 'extraLines'],
  );
  t.match(problems[0]!.problem, 'dcc_home "c:\\sa\\r" contains a control character');
  t.match(problems[1]!.problem, 'dcc_path "c:\\dcc\\t\\x01.exe" contains a control character');
  t.match(problems[2]!.problem, 'extra line 2 "use_dcc 0" switches DCC off');
});

t.test('extra lines that would break the block or switch DCC off are refused; comments are not', async (t) => {
  const refused: [string, RegExp][] = [
    [BLOCK_BEGIN, /is a kerio-dcc marker line/],
    ['score DCC_CHECK 0', /scores DCC_CHECK zero, which turns DCC off/],
    ['use_dcc 0', /switches DCC off/],
    ['  use_dcc  0', /switches DCC off/],
    ['dcc_home C:\\Program Files\\DCC', /sets dcc_home to a path with a space, which SpamAssassin on Windows would pass to dccproc split apart/],
  ];
  for (const [line, message] of refused) t.throws(() => managedBlockLines({ ...settings, extraLines: [line] }), { message }, line);
  for (const line of ['# use_dcc 0', 'use_dcc 1', '# score DCC_CHECK 0', 'dcc_timeout 10'])
    t.doesNotThrow(() => managedBlockLines({ ...settings, extraLines: [line] }), line);
});

t.test('split-prone path lines: every blank SpamAssassin trims, escaped #, non-ASCII, after the block, broken markers', async (t) => {
  const { splitPronePathLines } = await import('../src/patch/localCf.js');
  const text = [
    '\vdcc_home C:\\Program Files\\A\v', // 1: vertical tabs around
    'dcc_home\vC:\\Program Files\\B', // 2: a vertical tab between key and value
    'dcc_home  \tC:\\Program Files\\C', // 3: several blanks between
    'dcc_home C:\\Program Files\\\\#D', // 4: \# is a literal #
    'dcc_home C:\\Program Files\\Služby', // 5: UTF-8
    'dcc_home C:\\Program Files\\F\rG', // 6: a lone CR is part of the value, as in Perl
    'dcc_home C:\\Program Files # a comment\rwith a lone CR', // 7
    ...managedBlockLines(settings),
    'dcc_path C:\\Program Files\\E\\dccproc.exe', // after the block
  ].join('\n');
  const found = splitPronePathLines(Buffer.from(`${text}\n`, 'utf8'));
  t.same(
    found.map((f) => [f.line, f.value, f.inBlock]),
    [
      [1, 'C:\\Program Files\\A', false],
      [2, 'C:\\Program Files\\B', false],
      [3, 'C:\\Program Files\\C', false],
      [4, 'C:\\Program Files\\#D', false],
      [5, 'C:\\Program Files\\Služby', false],
      [6, 'C:\\Program Files\\F\rG', false],
      [7, 'C:\\Program Files', false],
      [8 + managedBlockLines(settings).length, 'C:\\Program Files\\E\\dccproc.exe', false],
    ],
  );
  const broken = fileBytes(`${BLOCK_BEGIN}\ndcc_home C:\\a b\n`);
  t.same(
    splitPronePathLines(broken).map((f) => [f.line, f.inBlock]),
    [[2, false]],
    'broken markers: the lines are still found (install stops on the markers elsewhere)',
  );
});

t.test('a file install or uninstall leaves as it is but for a byte-order mark: the note says only that', async (t) => {
  const bom = '\xef\xbb\xbf';
  t.same(installLocalCf(fileBytes(`${bom}a 1\n${blockText(settings, '\n')}`), settings).notes, [BOM_REMOVED_NOTE], 'install, block current');
  t.same(uninstallLocalCf(fileBytes(`${bom}a 1\n`)).notes, [BOM_REMOVED_NOTE], 'uninstall, no block');
});
