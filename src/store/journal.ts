import { appendFile, open, readFile } from 'node:fs/promises';
import { faultPoint } from '../fault.js';
import { journalPath } from './format.js';

/**
 * Each step's start and finish, appended and flushed next to the backup, so that after a
 * crash the next run can say how far the interrupted one got.
 */
export class Journal {
  private readonly file: string;

  constructor(
    backupDir: string,
    private readonly now: () => Date,
  ) {
    this.file = journalPath(backupDir);
  }

  /** The steps a journal says finished; a missing or torn journal yields what could be read. */
  static async finishedSteps(backupDir: string): Promise<Set<string>> {
    const text = await readFile(journalPath(backupDir), 'utf8').catch(() => '');
    const finished = new Set<string>();
    for (const line of text.split('\n')) {
      try {
        const entry = JSON.parse(line) as { step?: string; event?: string };
        if (entry.event === 'finish' && entry.step) finished.add(entry.step);
      } catch {
        // The last line of a journal cut by a crash may be partial.
      }
    }
    return finished;
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
