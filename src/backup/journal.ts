import { appendFile, open } from 'node:fs/promises';
import path from 'node:path';
import { faultPoint } from '../fault.js';

export const JOURNAL_NAME = 'journal.jsonl';

/**
 * Each step's start and finish, appended and flushed next to the backup, so that after a
 * crash the next run can say how far the interrupted one got.
 */
export class Journal {
  private readonly file: string;

  constructor(backupDir: string, private readonly now: () => Date) {
    this.file = path.join(backupDir, JOURNAL_NAME);
  }

  async record(step: string, event: 'start' | 'finish' | 'failed' | 'restored'): Promise<void> {
    faultPoint(`journal ${step} ${event}`);
    await appendFile(this.file, `${JSON.stringify({ at: this.now().toISOString(), step, event })}\n`);
    const handle = await open(this.file, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}
