import { appendLines, bytesOf, parseText, type Line, type TextDoc } from '../text/textFile.js';
import { PatchConflictError, patchResult, shownLine, type PatchResult } from './result.js';
import { OFF_MARKER, activeZeroDccScoreLines } from './dccScore.js';
import { commandLineHazard } from '../windows/shortPath.js';

/** What goes into local.cf; paths are Windows paths exactly as the target server sees them. */
export interface DccSettings {
  home: string;
  dccproc: string;
  extraLines: string[];
}

export const BLOCK_BEGIN = '# BEGIN kerio-dcc';
export const BLOCK_END = '# END kerio-dcc';
const MANAGED_COMMENT = '# Managed by kerio-dcc: edits between these markers are overwritten.';
const DCC_PLUGIN = 'Mail::SpamAssassin::Plugin::DCC';

/** A setting that cannot be written into local.cf as one safe line. */
export class UnsafeSettingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeSettingError';
  }
}

/**
 * The block's lines, markers included. dcc_* settings are unknown to SpamAssassin until the
 * plugin is loaded, so they sit inside ifplugin; add_header is core and stands outside.
 * The extra lines (Kerio 7.4 needs some, which ones is unknown) come after endif so core
 * settings among them always apply and plugin settings fail lint loudly instead of being
 * skipped silently; an admin who wants them conditional can write their own ifplugin.
 */
export function managedBlockLines(s: DccSettings): string[] {
  const [first] = unsafeSettings(s);
  if (first) throw new UnsafeSettingError(first.problem);
  // detect/dccPaths.ts decides the written form; a split-prone path here is a bug, never written.
  for (const p of [s.home, s.dccproc])
    if (commandLineHazard(p)) throw new Error(`internal: "${p}" would reach dccproc split; it must be written as its short name`);
  return [
    BLOCK_BEGIN,
    MANAGED_COMMENT,
    `ifplugin ${DCC_PLUGIN}`,
    `dcc_home ${s.home}`,
    `dcc_path ${s.dccproc}`,
    'use_dcc 1',
    'endif',
    'add_header all DCC _DCCB_: _DCCR_',
    ...s.extraLines,
    BLOCK_END,
  ];
}

/** Writes the managed block: unchanged if current, replaced in place if different, else appended. */
export function installLocalCf(bytes: Buffer | null, s: DccSettings): PatchResult {
  const wanted = managedBlockLines(s).map(bytesOf);
  const original = bytes ?? Buffer.alloc(0);
  const doc = parseText(original);
  const block = locateBlock(doc.lines);
  if (!block) {
    const first = doc.lines.length + 1;
    appendLines(doc, wanted);
    const where = `lines ${first}-${doc.lines.length}`;
    const note = bytes === null ? `created the file with the kerio-dcc block (${where})` : `added the kerio-dcc block at the end of the file (${where})`;
    return patchResult(original, doc, [note]);
  }
  const current = doc.lines.slice(block.begin, block.end + 1).map((l) => l.text);
  if (sameLines(current, wanted)) return patchResult(original, doc, []);
  replaceBlock(doc, block, wanted);
  const was = `${block.begin + 1}-${block.end + 1}`;
  const now = `${block.begin + 1}-${block.begin + wanted.length}`;
  return patchResult(original, doc, [`updated the kerio-dcc block (was lines ${was}, now lines ${now}) to the current settings`]);
}

/** Removes the managed block, markers included, and nothing else. */
export function uninstallLocalCf(bytes: Buffer): PatchResult {
  const doc = parseText(bytes);
  const block = locateBlock(doc.lines);
  if (!block) return patchResult(bytes, doc, []);
  doc.lines.splice(block.begin, block.end - block.begin + 1);
  return patchResult(bytes, doc, [`removed the kerio-dcc block (lines ${block.begin + 1}-${block.end + 1})`]);
}

export interface ManagedBlockState {
  present: boolean;
  /** True when the block is exactly what installLocalCf would write for these settings. */
  current: boolean;
  /** The block as found, marker lines included, decoded as UTF-8; empty when absent. */
  lines: string[];
  /** 1-based line numbers of the BEGIN and END markers, when present. */
  beginLine?: number;
  endLine?: number;
}

/** For `status`: whether the block is there and up to date. Throws PatchConflictError on broken markers, UnsafeSettingError on unsafe settings. */
export function findManagedBlock(bytes: Buffer, s: DccSettings): ManagedBlockState {
  const doc = parseText(bytes);
  const block = locateBlock(doc.lines);
  if (!block) return { present: false, current: false, lines: [] };
  const found = doc.lines.slice(block.begin, block.end + 1).map((l) => l.text);
  return {
    present: true,
    current: sameLines(found, managedBlockLines(s).map(bytesOf)),
    lines: found.map((t) => Buffer.from(t, 'latin1').toString('utf8')),
    beginLine: block.begin + 1,
    endLine: block.end + 1,
  };
}

interface BlockSpan {
  /** 0-based indexes of the marker lines. */
  begin: number;
  end: number;
}

function isMarker(line: Line, marker: string): boolean {
  return line.text.replace(/[ \t\r\f\v]+$/, '') === marker;
}

/** Finds the one well-formed block, null when there is none; anything else is a conflict. */
function locateBlock(lines: Line[]): BlockSpan | null {
  const begins: number[] = [];
  const ends: number[] = [];
  lines.forEach((line, i) => {
    if (isMarker(line, BLOCK_BEGIN)) begins.push(i);
    else if (isMarker(line, BLOCK_END)) ends.push(i);
  });
  if (begins.length === 0 && ends.length === 0) return null;
  const [begin] = begins;
  const [end] = ends;
  if (begins.length === 1 && ends.length === 1 && begin! < end!) return { begin: begin!, end: end! };
  throw new PatchConflictError(describeBrokenMarkers(begins, ends));
}

const HAND_FIX = 'Edit the file by hand so that it holds one complete block (or none), or restore it from the backup, then run kerio-dcc again.';

function describeBrokenMarkers(begins: number[], ends: number[]): string {
  return `the kerio-dcc markers are broken: ${markerProblem(begins, ends)}. ${HAND_FIX}`;
}

function markerProblem(begins: number[], ends: number[]): string {
  const at = (idx: number[]) => idx.map((i) => i + 1).join(', ');
  const [begin, end] = [`"${BLOCK_BEGIN}"`, `"${BLOCK_END}"`];
  if (ends.length === 0) return `${begin} on line ${at(begins)} has no ${end} after it`;
  if (begins.length === 0) return `${end} on line ${at(ends)} has no ${begin} before it`;
  if (begins.length === 1 && ends.length === 1) return `${end} on line ${at(ends)} comes before ${begin} on line ${at(begins)}`;
  return `there is more than one kerio-dcc block: ${begin} on lines ${at(begins)}, ${end} on lines ${at(ends)}`;
}

/** New lines take the file's dominant line ending; the END line keeps its own, so an unterminated last line stays so. */
function replaceBlock(doc: TextDoc, block: BlockSpan, texts: string[]): void {
  const lastEol = doc.lines[block.end]!.eol;
  const replacement: Line[] = texts.map((text, i) => ({ text, eol: i === texts.length - 1 ? lastEol : doc.eol }));
  doc.lines.splice(block.begin, block.end - block.begin + 1, ...replacement);
}

function sameLines(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((text, i) => text === b[i]);
}

// C0 controls and DEL: a line break would let a value add a line of its own.
// eslint-disable-next-line no-control-regex -- control characters are exactly what this looks for
const CONTROL = /[\u0000-\u001f\u007f]/;

const SPELLED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** The value with control characters spelled out (`\n`, `\x1b`), so a message shows where they are. */
function visible(value: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what this looks for
  return value.replace(/[\u0000-\u001f\u007f]/g, (c) => SPELLED[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export interface UnsafeSetting {
  setting: keyof DccSettings;
  problem: string;
}

/** Every setting that must not go into the block, with why; empty when all are safe. */
export function unsafeSettings(s: DccSettings): UnsafeSetting[] {
  const problems: UnsafeSetting[] = [];
  const collect = (setting: keyof DccSettings, check: () => void) => {
    try {
      check();
    } catch (err) {
      if (!(err instanceof UnsafeSettingError)) throw err;
      problems.push({ setting, problem: err.message });
    }
  };
  collect('home', () => checkPathValue('dcc_home', s.home));
  collect('dccproc', () => checkPathValue('dcc_path', s.dccproc));
  s.extraLines.forEach((line, i) => collect('extraLines', () => checkExtraLine(line, i)));
  return problems;
}

function checkPathValue(directive: string, value: string): void {
  const refuse = (why: string) => new UnsafeSettingError(`${directive} "${visible(value)}" ${why}`);
  if (value === '') throw new UnsafeSettingError(`${directive} needs a path, but the value is empty`);
  if (CONTROL.test(value)) throw refuse('contains a control character (a line break?); a value must stay on one line');
  if (value.trim() !== value) throw refuse('starts or ends with a space, which SpamAssassin would drop; remove it');
  // SpamAssassin cuts a line at an unescaped #, and the \# escape would clash with Windows backslashes.
  if (value.includes('#')) throw refuse('contains "#", which SpamAssassin reads as a comment; move DCC to a folder without "#"');
}

function checkExtraLine(line: string, index: number): void {
  const refuse = (why: string) => new UnsafeSettingError(`extra line ${index + 1} "${visible(line)}" ${why}`);
  if (CONTROL.test(line)) throw refuse('contains a control character (a line break?); give each line separately');
  const bare = line.replace(/[ \t]+$/, '');
  if (bare === BLOCK_BEGIN || bare === BLOCK_END) {
    throw refuse('is a kerio-dcc marker line, which would break the managed block; remove it');
  }
  // Either would switch DCC off again from inside the block that turns it on.
  if (activeZeroDccScoreLines(Buffer.from(`${line}\n`, 'latin1')).length) throw refuse('scores DCC_CHECK zero, which turns DCC off; remove it');
  if (/^\s*use_dcc\s+0\b/.test(line)) throw refuse('switches DCC off; remove it');
  const path = dccPathSetting(line);
  const hazard = path && commandLineHazard(path.value);
  if (path && hazard)
    throw refuse(
      `sets ${path.directive} to a path with ${hazard}, which SpamAssassin on Windows would pass to dccproc split apart; set dcc.home / dcc.dccproc instead (kerio-dcc writes their short names)`,
    );
}

/**
 * A `dcc_home` or `dcc_path` setting as SpamAssassin's parser reads the line (Conf/Parser.pm
 * in 4.0.1): a comment from an unescaped # on is dropped, then surrounding whitespace, then
 * the key (any case, - as _) is split from its value at the first run of whitespace.
 */
function dccPathSetting(text: string): { directive: 'dcc_home' | 'dcc_path'; value: string } | null {
  // Perl's \s on a byte string: ASCII whitespace only. Perl's . takes a lone CR, hence /s.
  const line = text
    .replace(/(?<!\\)#.*$/s, '')
    .replace(/\\#/g, '#')
    .replace(/^[ \t\n\r\f\v]+|[ \t\n\r\f\v]+$/g, '');
  const m = /^([^ \t\n\r\f\v]+)[ \t\n\r\f\v]+(.*)$/s.exec(line);
  const key = m?.[1]!.toLowerCase().replace(/-/g, '_');
  return key === 'dcc_home' || key === 'dcc_path' ? { directive: key, value: m![2]! } : null;
}

export interface SplitPathLine {
  /** 1-based. */
  line: number;
  directive: 'dcc_home' | 'dcc_path';
  value: string;
  /** What SpamAssassin's command line would break on, in words. */
  hazard: string;
  /** Inside kerio-dcc's block (install rewrites it) or outside (install turns it off). */
  inBlock: boolean;
}

/** Every active dcc_home/dcc_path whose path SpamAssassin on Windows would hand to dccproc split apart. */
export function splitPronePathLines(bytes: Buffer): SplitPathLine[] {
  const lines = parseText(bytes).lines;
  let block: BlockSpan | null = null;
  try {
    block = locateBlock(lines);
  } catch (err) {
    if (!(err instanceof PatchConflictError)) throw err;
  }
  const found: SplitPathLine[] = [];
  lines.forEach((l, i) => {
    const setting = dccPathSetting(l.text);
    const hazard = setting && commandLineHazard(setting.value);
    if (!setting || !hazard) return;
    const value = Buffer.from(setting.value, 'latin1').toString('utf8');
    found.push({ line: i + 1, directive: setting.directive, value, hazard, inBlock: block !== null && i > block.begin && i < block.end });
  });
  return found;
}

/**
 * Turns off (as `#kerio-dcc-off# ...`, which uninstall gives back byte for byte) every
 * split-prone dcc_home/dcc_path outside the block: SpamAssassin takes the last one it reads,
 * so such a line would defeat the block's, or be defeated only by luck of order.
 */
export function disableSplitPronePaths(bytes: Buffer): PatchResult {
  const doc = parseText(bytes);
  const notes = splitPronePathLines(bytes)
    .filter((p) => !p.inBlock)
    .map((p) => {
      const line = doc.lines[p.line - 1]!;
      const note = `turned off line ${p.line}: ${shownLine(line.text)} (the path has ${p.hazard}, so SpamAssassin on Windows would pass it to dccproc split apart)`;
      line.text = OFF_MARKER + line.text;
      return note;
    });
  return patchResult(bytes, doc, notes);
}
