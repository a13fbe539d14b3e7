import { appendLines, parseText, type Line } from '../text/textFile.js';
import { patchResult, shownLine, type PatchResult } from './result.js';

export const DCC_LOADPLUGIN = 'loadplugin Mail::SpamAssassin::Plugin::DCC';
/** Written above a loadplugin line we had to add, so disable can take both away again. */
export const ADDED_COMMENT = '# kerio-dcc added the next line: this file had no DCC loadplugin line to uncomment.';

// Perl's \s on a byte string: ASCII whitespace only.
const WS = '[ \\t\\f\\v\\r]';
// SpamAssassin lowercases the directive; the module name is case-sensitive Perl.
const KEYWORD = '[Ll][Oo][Aa][Dd][Pp][Ll][Uu][Gg][Ii][Nn]';
const MODULE = 'Mail::SpamAssassin::Plugin::DCC';

/** An active line loading DCC; an optional path to DCC.pm may follow the module name. */
const ACTIVE = new RegExp(`^${WS}*${KEYWORD}${WS}+${MODULE}(?:${WS}.*|#.*)?$`);
/** A commented-out DCC loadplugin line: `#`, `##`, `# ` and indents before; only a comment after. */
const COMMENTED = new RegExp(`^${WS}*(?:#${WS}*)+(${KEYWORD}${WS}+${MODULE}${WS}*(?:#.*)?)$`);

function activeIndexes(lines: Line[]): number[] {
  const found: number[] = [];
  lines.forEach((line, i) => {
    if (ACTIVE.test(line.text)) found.push(i);
  });
  return found;
}

/**
 * Loads the DCC plugin: nothing to do if a line already loads it; else uncomments the first
 * commented DCC loadplugin line (keeping the rest of its bytes); else appends one.
 */
export function enableDccPlugin(bytes: Buffer): PatchResult {
  const doc = parseText(bytes);
  if (activeIndexes(doc.lines).length > 0) return patchResult(bytes, doc, []);
  const index = doc.lines.findIndex((line) => COMMENTED.test(line.text));
  if (index >= 0) {
    const line = doc.lines[index]!;
    line.text = COMMENTED.exec(line.text)![1]!;
    return patchResult(bytes, doc, [`uncommented line ${index + 1}: ${shownLine(line.text)}`]);
  }
  const first = doc.lines.length + 1;
  appendLines(doc, [ADDED_COMMENT, DCC_LOADPLUGIN]);
  return patchResult(bytes, doc, [`added "${DCC_LOADPLUGIN}" at the end of the file (line ${first + 1}): no DCC loadplugin line was there to uncomment`]);
}

/**
 * Stops loading the DCC plugin: a line we appended goes away with its comment; any other
 * active DCC loadplugin line gets a `#` in front, upstream's own commented form.
 */
export function disableDccPlugin(bytes: Buffer): PatchResult {
  const doc = parseText(bytes);
  const notes: string[] = [];
  for (const i of activeIndexes(doc.lines).reverse()) {
    const line = doc.lines[i]!;
    if (i > 0 && doc.lines[i - 1]!.text === ADDED_COMMENT && line.text === DCC_LOADPLUGIN) {
      doc.lines.splice(i - 1, 2);
      notes.unshift(`removed lines ${i}-${i + 1}, which kerio-dcc had added: ${DCC_LOADPLUGIN}`);
    } else {
      line.text = '#' + line.text;
      notes.unshift(`commented out line ${i + 1}: ${shownLine(line.text)}`);
    }
  }
  return patchResult(bytes, doc, notes);
}

/** 1-based numbers of the lines that load DCC; more than one means it is loaded twice. */
export function activeDccLoadplugins(bytes: Buffer): number[] {
  return activeIndexes(parseText(bytes).lines).map((i) => i + 1);
}
