import { createTwoFilesPatch } from 'diff/lib/patch/create.js';
import { parseText } from './textFile.js';

function displayText(bytes: Buffer | null): string {
  if (bytes === null) return '';
  const lines = parseText(bytes).lines.map((l) => Buffer.from(l.text, 'latin1').toString('utf8'));
  return lines.length === 0 ? '' : lines.join('\n') + '\n';
}

/** A unified diff for the administrator; line endings are not shown (they are kept as they were). */
export function unifiedDiff(label: string, before: Buffer | null, after: Buffer | null): string {
  return createTwoFilesPatch(before === null ? '(new file)' : label, after === null ? '(deleted)' : label, displayText(before), displayText(after), '', '', {
    context: 2,
  })
    .split('\n')
    .filter((line) => !line.startsWith('=====') && !line.startsWith('Index: '))
    .map((line) => (line.startsWith('--- ') || line.startsWith('+++ ') ? line.trimEnd() : line))
    .join('\n')
    .trimEnd();
}
