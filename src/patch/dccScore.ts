import { parseText, type Line } from '../text/textFile.js';
import { patchResult, shownLine, type PatchResult } from './result.js';

/** Prefix that turns a line off; restore strips exactly this, so the original bytes come back. */
export const OFF_MARKER = '#kerio-dcc-off# ';

// Perl's \s on a byte string: ASCII whitespace only (a 0xA0 byte is not a space to SpamAssassin).
const WS = '[ \\t\\f\\v\\r]';
const SCORE_VALUE = '\\(?-?\\d+(?:\\.\\d+)?\\)?';
/**
 * An active `score DCC_CHECK ...` line as SpamAssassin's parser sees it: leading whitespace,
 * the keyword in any case (the parser lowercases it), the rule name case-sensitively (rule
 * names are), values, then an optional comment, which may follow a value without a space.
 */
const SCORE_LINE = new RegExp(`^${WS}*[Ss][Cc][Oo][Rr][Ee]${WS}+DCC_CHECK((?:${WS}+${SCORE_VALUE})+)${WS}*(?:#.*)?$`);

/**
 * True when the line sets DCC_CHECK to zero in every score set. SpamAssassin takes 1 or 4
 * values and ignores the line otherwise; a value in parentheses is relative (adds to the
 * score) and so never sets it to zero.
 */
function isZeroDccScore(text: string): boolean {
  const m = SCORE_LINE.exec(text);
  if (!m) return false;
  const values = m[1]!.trim().split(new RegExp(`${WS}+`));
  if (values.length !== 1 && values.length !== 4) return false;
  return values.every((v) => /^-?\d+(?:\.\d+)?$/.test(v) && Number(v) === 0);
}

function zeroScoreIndexes(lines: Line[]): number[] {
  const found: number[] = [];
  lines.forEach((line, i) => {
    if (isZeroDccScore(line.text)) found.push(i);
  });
  return found;
}

/** Turns off every active line that leaves DCC_CHECK at zero: with a zero score SpamAssassin never asks DCC. */
export function disableZeroDccScores(bytes: Buffer): PatchResult {
  const doc = parseText(bytes);
  const notes = zeroScoreIndexes(doc.lines).map((i) => {
    const line = doc.lines[i]!;
    const note = `turned off line ${i + 1}: ${shownLine(line.text)}`;
    line.text = OFF_MARKER + line.text;
    return note;
  });
  return patchResult(bytes, doc, notes);
}

/** Gives back the lines disableZeroDccScores turned off, byte for byte; touches no other line. */
export function restoreZeroDccScores(bytes: Buffer): PatchResult {
  const doc = parseText(bytes);
  const notes: string[] = [];
  doc.lines.forEach((line, i) => {
    if (!line.text.startsWith(OFF_MARKER)) return;
    line.text = line.text.slice(OFF_MARKER.length);
    notes.push(`turned line ${i + 1} back on: ${shownLine(line.text)}`);
  });
  return patchResult(bytes, doc, notes);
}

/** 1-based numbers of the active lines that leave DCC_CHECK at zero, for `status`. */
export function activeZeroDccScoreLines(bytes: Buffer): number[] {
  return zeroScoreIndexes(parseText(bytes).lines).map((i) => i + 1);
}
