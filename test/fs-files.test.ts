import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { copyAndHashFile, fileContains, sha256File } from '../src/fs/files.js';
import { forEachLimited } from '../src/fs/pool.js';
import { tempDir } from './helpers/cli.js';

t.test('a rule file is found to mention DCC_CHECK wherever the word falls, even split across two reads', async (t) => {
  const dir = await tempDir(t);
  const scratch = Buffer.alloc(16); // tiny, so the word is split between reads at many offsets
  for (let offset = 0; offset < 40; offset++) {
    const file = path.join(dir, `f${offset}.cf`);
    await writeFile(file, `${'x'.repeat(offset)}score DCC_CHECK 0\n`);
    t.equal(await fileContains(file, 'DCC_CHECK', scratch), true, `found at offset ${offset}`);
  }
  const none = path.join(dir, 'none.cf');
  await writeFile(none, `score DCC_CHEC${'K'.repeat(0)} 0\nDCC_\nCHECK\n`.repeat(5));
  t.equal(await fileContains(none, 'DCC_CHECK', scratch), false, 'a near miss and a word broken by a line end do not count');
  const empty = path.join(dir, 'empty.cf');
  await writeFile(empty, '');
  t.equal(await fileContains(empty, 'DCC_CHECK', scratch), false);
});

t.test('a backup copy has the same bytes and the hash of the original, read once through a small buffer', async (t) => {
  const dir = await tempDir(t);
  const from = path.join(dir, 'map');
  const bytes = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 31 + 7) % 256));
  await writeFile(from, bytes);
  const to = path.join(dir, 'copy');
  const result = await copyAndHashFile(from, to, Buffer.alloc(1000));
  t.same(await readFile(to), bytes);
  t.equal(result.size, bytes.length);
  t.equal(result.sha256, createHash('sha256').update(bytes).digest('hex'));
  t.equal(await sha256File(to, Buffer.alloc(777)), result.sha256, 'hashing the copy gives the same hash');
  await t.rejects(copyAndHashFile(from, to, Buffer.alloc(1000)), { code: 'EEXIST' }, 'an existing copy is never overwritten');
});

t.test('limited parallel work does every item once, never more at a time than allowed, and reports the first failure', async (t) => {
  const seen: number[] = [];
  let running = 0;
  let most = 0;
  await forEachLimited([...Array(50).keys()], 4, async (n) => {
    running++;
    most = Math.max(most, running);
    await new Promise((r) => setTimeout(r, n % 3));
    seen.push(n);
    running--;
  });
  t.same([...seen].sort((a, b) => a - b), [...Array(50).keys()]);
  t.ok(most <= 4 && most > 1, `at most 4 at once (saw ${most})`);
  const started: number[] = [];
  await t.rejects(
    forEachLimited([...Array(50).keys()], 2, async (n) => {
      started.push(n);
      if (n === 3) throw new Error('disk full');
      await new Promise((r) => setTimeout(r, 1));
    }),
    { message: 'disk full' },
  );
  t.ok(started.length < 50, 'no new work starts after a failure');
});
