// Slow (some 15 s on a busy 2-core machine): run by `npm run test:perf`, not by `npm test`.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { BackupWriter, readManifestHead } from '../../src/store/format.js';
import { PROJECT, runNode, tempDir } from '../helpers/cli.js';

// A backup of 100,000 files: files.jsonl alone is some 28 MB, more than the child's whole heap.
const FILES = 100_000;
const HEAP_MB = 32;
const READER = path.join(PROJECT, 'test', 'helpers', 'read-backup.mjs');

t.test(
  `a backup of ${FILES.toLocaleString('en')} files is read and walked within a ${HEAP_MB} MB heap, where a reader holding the list cannot run`,
  async (t) => {
    const base = await tempDir(t);
    const writer = await BackupWriter.create(base, '20261127T120000Z');
    let bytes = 0;
    const files = [];
    for (let i = 0; i < FILES; i++) {
      const file = {
        path: `C:\\Program Files\\Kerio\\MailServer\\plugins\\spamassassin\\rules\\sub ${i % 97}\\rule_${i}.cf`,
        backup: `files/C/Program Files/Kerio/MailServer/plugins/spamassassin/rules/sub ${i % 97}/rule_${i}.cf`,
        size: 1000 + i,
        sha256: i.toString(16).padStart(64, '0'),
      };
      writer.add(file);
      bytes += file.size;
      if (i % 4 === 0) files.push(file);
    }
    const head = {
      toolVersion: '0.1.0',
      id: writer.id,
      command: 'install',
      createdAt: '2026-11-27T12:00:00.000Z',
      finishedAt: null,
      status: 'complete' as const,
      target: { root: null, rulesDir: 'C:\\rules', installDir: 'C:\\Kerio', service: 'KerioMailServer' },
      answersFile: null,
      changes: [],
    };
    await writer.finish(head, { created: [], firewall: [], skipped: [] });

    const small = { env: { NODE_OPTIONS: `--max-old-space-size=${HEAP_MB}` } };
    const read = await runNode(READER, [writer.dir], small);
    t.equal(read.code, 0, 'the reader runs to the end', { stderr: read.stderr.slice(-600) });
    t.same(JSON.parse(read.stdout || '{}'), { count: FILES, walked: 2 * FILES, bytes: 2 * bytes }, 'it counts every entry, and walks the list twice from disk');

    // The same list held whole, as the one-file manifest of kerio-dcc 0.1.0 does (a quarter of it, to keep the test fast).
    const oneFile = path.join(await tempDir(t), 'legacy');
    await mkdir(oneFile);
    const { id: _id, ...rest } = head;
    await writeFile(
      path.join(oneFile, 'manifest.json'),
      JSON.stringify(
        { schema: 1, tool: 'kerio-dcc', id: writer.id, ...rest, files: [...files, ...files, ...files, ...files], created: [], firewall: [], skipped: [] },
        null,
        2,
      ),
    );
    const whole = await runNode(READER, [oneFile], small);
    t.not(whole.code, 0, `a reader that holds the list whole runs out of a ${HEAP_MB} MB heap: the limit is tight enough to tell`);
    t.match(await readManifestHead(writer.dir), { id: writer.id }, 'the head alone is read without the list');
  },
);
