import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { activeZeroDccScoreLines, disableZeroDccScores, OFF_MARKER, restoreZeroDccScores } from '../src/patch/dccScore.js';
import { BOM_REMOVED_NOTE } from '../src/patch/result.js';
import { bomVariant, crlfVariant, differingIndexes, fileBytes, fixtureRulesDir, linesOf, missingFixtureMessage, SA_VERSIONS } from './helpers/fixtures.js';

const KERIO_ZERO_SCORE = 'score DCC_CHECK 0';

function cfFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cf'))
    .sort();
}

/** Inserts a line after the given index, keeping the file's LF or CRLF style. */
function withLineAfter(original: Buffer, index: number, text: string): Buffer {
  const lines = linesOf(original);
  const eol = lines[index]!.endsWith('\r\n') ? '\r\n' : '\n';
  lines.splice(index + 1, 0, text + eol);
  return fileBytes(lines.join(''));
}

for (const version of SA_VERSIONS) {
  const dir = fixtureRulesDir(version);
  t.test(`SpamAssassin ${version}: shipped rule files`, { skip: dir ? false : missingFixtureMessage(version) }, async (t) => {
    const rules = dir!;

    t.test('no shipped .cf file is changed, in LF or CRLF, and patching twice changes nothing more', async (t) => {
      const names = cfFiles(rules);
      // An empty list would pass every check below: the folder must hold the shipped rule set.
      t.ok(names.length >= 20, `the fixture holds the shipped .cf files (${names.length})`);
      t.ok(names.includes('50_scores.cf') && names.includes('local.cf'), 'among them 50_scores.cf and local.cf');
      for (const name of names) {
        for (const [variant, original] of [
          ['LF', readFileSync(path.join(rules, name))],
          ['CRLF', crlfVariant(readFileSync(path.join(rules, name)))],
        ] as const) {
          const once = disableZeroDccScores(original);
          t.equal(once.changed, false, `${name} (${variant}) is left alone`);
          t.ok(once.bytes.equals(original), `${name} (${variant}) keeps its bytes`);
          t.same(activeZeroDccScoreLines(original), [], `${name} (${variant}) has no zero DCC_CHECK score`);
          t.ok(disableZeroDccScores(once.bytes).bytes.equals(once.bytes), `${name} (${variant}) is idempotent`);
          t.ok(restoreZeroDccScores(original).bytes.equals(original), `${name} (${variant}) restore is a no-op`);
        }
      }
    });

    t.test('the real 50_scores.cf DCC_CHECK line with some non-zero values stays as it is', async (t) => {
      const original = readFileSync(path.join(rules, '50_scores.cf'));
      const lines = linesOf(original);
      const index = lines.findIndex((l) => /^score\s+DCC_CHECK\s/.test(l));
      t.ok(index >= 0, 'the fixture has a score DCC_CHECK line');
      const values = lines[index]!.trim().split(/\s+/).slice(2).map(Number);
      t.ok(values.includes(0) && values.some((v) => v !== 0), `the line mixes zero and non-zero: ${lines[index]!.trim()}`);
      const result = disableZeroDccScores(original);
      t.equal(linesOf(result.bytes)[index], lines[index]);
    });

    t.test("Kerio's `score DCC_CHECK 0` at the end of local.cf is turned off and restored byte for byte", async (t) => {
      for (const [variant, shipped] of [
        ['LF', readFileSync(path.join(rules, 'local.cf'))],
        ['CRLF', crlfVariant(readFileSync(path.join(rules, 'local.cf')))],
      ] as const) {
        const eol = variant === 'CRLF' ? '\r\n' : '\n';
        const original = Buffer.concat([shipped, fileBytes(KERIO_ZERO_SCORE + eol)]);
        const before = linesOf(original);
        const zeroIndex = before.length - 1;
        t.same(activeZeroDccScoreLines(original), [zeroIndex + 1], `${variant}: status finds the line`);

        const disabled = disableZeroDccScores(original);
        const after = linesOf(disabled.bytes);
        t.same(differingIndexes(before, after), [zeroIndex], `${variant}: only the zero-score line changes`);
        t.equal(after[zeroIndex], OFF_MARKER + KERIO_ZERO_SCORE + eol, `${variant}: the line is marked, its ending kept`);
        t.same(disabled.notes, [`turned off line ${zeroIndex + 1}: ${KERIO_ZERO_SCORE}`]);
        t.same(activeZeroDccScoreLines(disabled.bytes), [], `${variant}: status sees no active zero score`);
        if (variant === 'CRLF')
          t.ok(
            after.every((l) => l.endsWith('\r\n')),
            'every line is still CRLF',
          );

        t.ok(disableZeroDccScores(disabled.bytes).bytes.equals(disabled.bytes), `${variant}: disable is idempotent`);
        const restored = restoreZeroDccScores(disabled.bytes);
        t.ok(restored.bytes.equals(original), `${variant}: restore gives back the exact bytes`);
        t.same(restored.notes, [`turned line ${zeroIndex + 1} back on: ${KERIO_ZERO_SCORE}`]);
        t.ok(restoreZeroDccScores(restored.bytes).bytes.equals(original), `${variant}: restore is idempotent`);
      }
    });

    t.test('a zero score placed next to the real DCC_CHECK line in 50_scores.cf (CRLF) is the only line changed', async (t) => {
      const shipped = crlfVariant(readFileSync(path.join(rules, '50_scores.cf')));
      const realIndex = linesOf(shipped).findIndex((l) => /^score\s+DCC_CHECK\s/.test(l));
      const original = withLineAfter(shipped, realIndex, 'score DCC_CHECK 0.0 0 0.000 0');
      const result = disableZeroDccScores(original);
      t.same(differingIndexes(linesOf(original), linesOf(result.bytes)), [realIndex + 1]);
      t.ok(restoreZeroDccScores(result.bytes).bytes.equals(original));
    });
  });
}

const turnedOff = [
  'score DCC_CHECK 0',
  'score DCC_CHECK 0.0',
  'score DCC_CHECK 0.000',
  'score DCC_CHECK -0',
  'score\tDCC_CHECK\t0',
  '  score   DCC_CHECK    0   ',
  '\tscore DCC_CHECK 0',
  'score DCC_CHECK 0 # Kerio: DCC is not installed',
  'score DCC_CHECK 0#no space before the comment',
  'score DCC_CHECK 0 0 0 0',
  'score DCC_CHECK   0.0\t0   0.00 0  # all four score sets',
  'SCORE DCC_CHECK 0',
  'Score DCC_CHECK 0',
];

const leftAlone: [string, string][] = [
  ['score DCC_CHECK 1.5', 'a non-zero score'],
  ['score DCC_CHECK 0 1.1 0 1.1', 'some score sets non-zero (upstream 50_scores.cf)'],
  ['score DCC_CHECK 0 0 0 1', 'one score set non-zero'],
  ['score DCC_CHECK 0.5', 'a fraction that is not zero'],
  ['#score DCC_CHECK 0', 'commented by the user'],
  ['# score DCC_CHECK 0', 'commented by the user with a space'],
  ['   # score DCC_CHECK 0', 'an indented comment'],
  ['score DCC_CHECK_X 0', 'another rule whose name starts the same'],
  ['score DCC_REPUT_00_12 0', 'a DCC reputation rule'],
  ['score dcc_check 0', 'the rule name in another case (rule names are case-sensitive)'],
  ['score DCC_CHECK 0 0', 'two values, which SpamAssassin rejects'],
  ['score DCC_CHECK (0)', 'a relative score, which adds 0 and leaves the score as it was'],
  ['score DCC_CHECK', 'no value'],
  ['describe DCC_CHECK 0', 'not a score line'],
  ['scoreDCC_CHECK 0', 'no space after the keyword'],
];

t.test('every spelling that leaves DCC_CHECK at zero is turned off and restored exactly', async (t) => {
  for (const line of turnedOff) {
    for (const eol of ['\n', '\r\n']) {
      const original = fileBytes(`# before${eol}${line}${eol}required_score 5${eol}`);
      const result = disableZeroDccScores(original);
      t.same(linesOf(result.bytes), [`# before${eol}`, OFF_MARKER + line + eol, `required_score 5${eol}`], JSON.stringify(line));
      t.same(activeZeroDccScoreLines(original), [2], `status finds ${JSON.stringify(line)}`);
      t.ok(disableZeroDccScores(result.bytes).bytes.equals(result.bytes), `idempotent for ${JSON.stringify(line)}`);
      t.ok(restoreZeroDccScores(result.bytes).bytes.equals(original), `restorable for ${JSON.stringify(line)}`);
    }
  }
});

t.test('lines that do not leave DCC_CHECK at zero are never touched', async (t) => {
  for (const [line, why] of leftAlone) {
    const original = fileBytes(`${line}\n`);
    const result = disableZeroDccScores(original);
    t.equal(result.changed, false, `${why}: ${line}`);
    t.ok(result.bytes.equals(original), `${why}: bytes kept`);
    t.same(activeZeroDccScoreLines(original), [], `${why}: not reported by status`);
  }
});

t.test('a zero score on an unterminated last line is turned off and stays unterminated', async (t) => {
  const original = fileBytes('use_bayes 1\r\nscore DCC_CHECK 0');
  const result = disableZeroDccScores(original);
  t.equal(result.bytes.toString('latin1'), `use_bayes 1\r\n${OFF_MARKER}score DCC_CHECK 0`);
  t.ok(restoreZeroDccScores(result.bytes).bytes.equals(original));
});

t.test('every zero-score line in a file is turned off, each named in the notes', async (t) => {
  const original = fileBytes('score DCC_CHECK 0\nscore DCC_CHECK 1.1\nscore DCC_CHECK 0 0 0 0\n');
  const result = disableZeroDccScores(original);
  t.same(differingIndexes(linesOf(original), linesOf(result.bytes)), [0, 2]);
  t.same(result.notes, ['turned off line 1: score DCC_CHECK 0', 'turned off line 3: score DCC_CHECK 0 0 0 0']);
  t.same(activeZeroDccScoreLines(original), [1, 3]);
});

t.test('restore touches only lines carrying the kerio-dcc marker', async (t) => {
  const original = fileBytes(`#score DCC_CHECK 0\n${OFF_MARKER}score DCC_CHECK 0\n# kerio-dcc-off score DCC_CHECK 0\n`);
  const result = restoreZeroDccScores(original);
  t.same(differingIndexes(linesOf(original), linesOf(result.bytes)), [1]);
  t.equal(linesOf(result.bytes)[1], 'score DCC_CHECK 0\n');
});

t.test('a UTF-8 byte-order mark is removed and reported, and the zero score still turned off', async (t) => {
  const plain = fileBytes('score DCC_CHECK 0\r\nuse_bayes 1\r\n');
  const result = disableZeroDccScores(bomVariant(plain));
  t.equal(result.bytes.toString('latin1'), `${OFF_MARKER}score DCC_CHECK 0\r\nuse_bayes 1\r\n`);
  t.same(result.notes, [BOM_REMOVED_NOTE, 'turned off line 1: score DCC_CHECK 0']);
  t.ok(disableZeroDccScores(result.bytes).bytes.equals(result.bytes), 'idempotent');
  t.ok(restoreZeroDccScores(result.bytes).bytes.equals(plain), 'restore gives the file without the mark');
});

t.test('a byte-order mark alone is still a change worth making', async (t) => {
  const result = disableZeroDccScores(bomVariant(fileBytes('use_bayes 1\n')));
  t.equal(result.changed, true);
  t.equal(result.bytes.toString('latin1'), 'use_bayes 1\n');
  t.same(result.notes, [BOM_REMOVED_NOTE]);
});

t.test('bytes outside ASCII on other lines survive untouched', async (t) => {
  const original = Buffer.concat([fileBytes('# r\xe8gle\n'), Buffer.from('# Regel für Müller\n', 'utf8'), fileBytes('score DCC_CHECK 0\n')]);
  const result = disableZeroDccScores(original);
  t.same(differingIndexes(linesOf(original), linesOf(result.bytes)), [2]);
  t.ok(restoreZeroDccScores(result.bytes).bytes.equals(original));
});

t.test('a zero score written with more than one digit (00, 0.00) still turns DCC off, and is found', async (t) => {
  for (const value of ['00', '0.00', '-0']) {
    const original = Buffer.from(`score DCC_CHECK ${value}\n`, 'latin1');
    t.same(activeZeroDccScoreLines(original), [1], `score DCC_CHECK ${value} is found`);
    t.equal(disableZeroDccScores(original).bytes.toString('latin1'), `${OFF_MARKER}score DCC_CHECK ${value}\n`, `score DCC_CHECK ${value} is turned off`);
  }
});
