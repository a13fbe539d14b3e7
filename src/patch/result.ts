import { serializeText, type TextDoc } from '../text/textFile.js';

/** What a patcher made of a file: the new bytes, whether they differ, and what it did, in sentences. */
export interface PatchResult {
  bytes: Buffer;
  changed: boolean;
  notes: string[];
}

/**
 * The file is in a state a patcher will not guess about (broken markers and the like). The
 * message names the problem and the fix; the caller adds the file name and exits with 3.
 */
export class PatchConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PatchConflictError';
  }
}

export const BOM_REMOVED_NOTE = "removed a UTF-8 byte-order mark at the start of the file (it breaks SpamAssassin's first directive)";

/** Serializes a patched document; `changed` compares bytes, so a no-op edit never counts as a change. */
export function patchResult(original: Buffer, doc: TextDoc, notes: string[]): PatchResult {
  const bytes = serializeText(doc);
  const changed = !bytes.equals(original);
  if (!changed) return { bytes, changed, notes: [] };
  return { bytes, changed, notes: doc.hadBom ? [BOM_REMOVED_NOTE, ...notes] : notes };
}

/** A line's stored bytes (latin1 form) as readable text for a note; rule files are ASCII or UTF-8. */
export function shownLine(text: string): string {
  return Buffer.from(text, 'latin1').toString('utf8').trim();
}
