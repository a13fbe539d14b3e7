/**
 * Config files are handled as bytes: SpamAssassin reads them raw, and a patch must keep
 * every byte it does not mean to change. A Buffer is decoded as latin1 (one char per
 * byte), so any encoding survives a round trip untouched.
 */

export type Eol = '\r\n' | '\n';

export interface Line {
  /** The line's bytes without its terminator. */
  text: string;
  /** The terminator as found: CRLF, LF, or '' for a last line without one. */
  eol: '' | Eol;
}

export interface TextDoc {
  lines: Line[];
  /** The terminator used for lines we add: the file's dominant one (LF for an empty file). */
  eol: Eol;
  /** True when the file started with a UTF-8 BOM, which we drop (it breaks SpamAssassin's first line). */
  hadBom: boolean;
}

const BOM = '\xEF\xBB\xBF';

export function parseText(bytes: Buffer): TextDoc {
  let body = bytes.toString('latin1');
  const hadBom = body.startsWith(BOM);
  if (hadBom) body = body.slice(BOM.length);
  const lines: Line[] = [];
  let crlf = 0;
  let lf = 0;
  let start = 0;
  while (start < body.length) {
    const nl = body.indexOf('\n', start);
    if (nl === -1) {
      lines.push({ text: body.slice(start), eol: '' });
      break;
    }
    const isCrlf = nl > start && body[nl - 1] === '\r';
    if (isCrlf) crlf++;
    else lf++;
    lines.push({ text: body.slice(start, isCrlf ? nl - 1 : nl), eol: isCrlf ? '\r\n' : '\n' });
    start = nl + 1;
  }
  return { lines, eol: crlf > lf ? '\r\n' : '\n', hadBom };
}

export function serializeText(doc: TextDoc): Buffer {
  return Buffer.from(doc.lines.map((l) => l.text + l.eol).join(''), 'latin1');
}

/** Encodes text we write (which may hold non-ASCII from an answers file) as UTF-8 bytes in latin1 form. */
export function bytesOf(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}

/** Appends lines, first terminating an unterminated last line so nothing is glued together. */
export function appendLines(doc: TextDoc, texts: string[]): void {
  const last = doc.lines[doc.lines.length - 1];
  if (last && last.eol === '') last.eol = doc.eol;
  for (const text of texts) doc.lines.push({ text, eol: doc.eol });
}

/** Text files the tool writes for administrators use CRLF on Windows (older Notepad shows LF files as one line). */
export function windowsText(bytes: Buffer, platform: NodeJS.Platform = process.platform): Buffer {
  if (platform !== 'win32') return bytes;
  return Buffer.from(bytes.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}
