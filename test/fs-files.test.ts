import { createHash } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { copyAndHashFile, fileContains, readsBackAs, sha256File, walk } from '../src/fs/files.js';
import { eachInSlices } from '../src/fs/slices.js';
import { AtomicFile } from '../src/fs/atomicWrite.js';
import { tempDir } from './helpers/cli.js';

t.test('a rule file is found to mention DCC_CHECK wherever the word falls, even split across two reads', async (t) => {
  const dir = await tempDir(t);
  const scratch = Buffer.alloc(16); // tiny, so the word is split between reads at many offsets
  for (let offset = 0; offset < 40; offset++) {
    const file = path.join(dir, `f${offset}.cf`);
    await writeFile(file, `${'x'.repeat(offset)}score DCC_CHECK 0\n`);
    t.equal(fileContains(file, 'DCC_CHECK', scratch), true, `found at offset ${offset}`);
  }
  const none = path.join(dir, 'none.cf');
  await writeFile(none, `score DCC_CHEC${'K'.repeat(0)} 0\nDCC_\nCHECK\n`.repeat(5));
  t.equal(fileContains(none, 'DCC_CHECK', scratch), false, 'a near miss and a word broken by a line end do not count');
  const empty = path.join(dir, 'empty.cf');
  await writeFile(empty, '');
  t.equal(fileContains(empty, 'DCC_CHECK', scratch), false);
});

t.test('a backup copy has the same bytes and the hash of the original, read once through a small buffer', async (t) => {
  const dir = await tempDir(t);
  const from = path.join(dir, 'map');
  const bytes = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 31 + 7) % 256));
  await writeFile(from, bytes);
  const to = path.join(dir, 'copy');
  const result = copyAndHashFile(from, to, Buffer.alloc(1000));
  t.same(await readFile(to), bytes);
  t.equal(result.size, bytes.length);
  t.equal(result.sha256, createHash('sha256').update(bytes).digest('hex'));
  t.equal(sha256File(to, Buffer.alloc(777)), result.sha256, 'hashing the copy gives the same hash');
  t.throws(() => copyAndHashFile(from, to, Buffer.alloc(1000)), { code: 'EEXIST' }, 'an existing copy is never overwritten');
});

t.test('work over many files runs each item once, in order, and lets timers and output in while it runs', async (t) => {
  const seen: number[] = [];
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const busyUntil = (ms: number) => {
    const end = performance.now() + ms;
    while (performance.now() < end);
  };
  await eachInSlices([...Array(30).keys()], (n) => {
    busyUntil(5); // about 150 ms of synchronous work in all
    seen.push(n);
  });
  clearInterval(timer);
  t.same(seen, [...Array(30).keys()]);
  t.ok(ticks >= 3, `the event loop had its turn during the work (a 1 ms timer fired ${ticks} times)`);

  const started: number[] = [];
  await t.rejects(
    eachInSlices([...Array(50).keys()], (n) => {
      started.push(n);
      if (n === 3) throw new Error('disk full');
    }),
    { message: 'disk full' },
  );
  t.same(started, [0, 1, 2, 3], 'nothing runs after a failure');
});

t.test('a folder walk reports files below every subfolder, and links without following them', async (t) => {
  const dir = await tempDir(t);
  await mkdir(path.join(dir, 'b', 'c'), { recursive: true });
  await writeFile(path.join(dir, 'a.cf'), 'a');
  await writeFile(path.join(dir, 'b', 'b.cf'), 'b');
  await writeFile(path.join(dir, 'b', 'c', 'c.cf'), 'c');
  await mkdir(path.join(dir, 'outside'));
  await writeFile(path.join(dir, 'outside', 'secret'), 's');
  await symlink(path.join(dir, 'outside'), path.join(dir, 'b', 'link'));
  const seen = [...walk(path.join(dir, 'b'))].map((e) => `${e.relative.split(path.sep).join('/')}:${e.kind}`).sort();
  t.same(seen, ['b.cf:file', 'c/c.cf:file', 'link:link']);
});

t.test('a copy is checked by reading it back: a copy that differs from the hashed bytes, or is short, does not pass', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'copy');
  const bytes = Buffer.from('score DCC_CHECK 2.2\r\n'.repeat(50), 'latin1');
  await writeFile(file, bytes);
  const fd = openSync(file, 'r');
  t.teardown(() => closeSync(fd));
  t.equal(readsBackAs(fd, bytes, 0), true, 'the same bytes pass');
  t.equal(readsBackAs(fd, bytes.subarray(21, 42), 21), true, 'a piece is compared at its own offset');
  t.equal(readsBackAs(fd, bytes.subarray(0, 21), 3), false, 'the right bytes at the wrong offset fail');
  const flipped = Buffer.from(bytes);
  flipped[500] ^= 1;
  t.equal(readsBackAs(fd, flipped, 0), false, 'one flipped bit fails');
  t.equal(readsBackAs(fd, Buffer.concat([bytes, Buffer.from('x')]), 0), false, 'a copy shorter than what was written fails');
});

t.test('a file written in pieces is replaced with exactly those bytes, whatever their sizes', async (t) => {
  const dir = await tempDir(t);
  const target = path.join(dir, 'local.cf');
  await writeFile(target, 'old\r\n');
  // Pieces that fill the buffer exactly, overflow it, exceed it alone, and put multi-byte characters across its edge.
  const pieces: (string | Buffer)[] = [
    'a'.repeat(65_535),
    'é€',
    Buffer.from([0, 1, 2, 255]),
    'ü'.repeat(40_000),
    'x'.repeat(200_000),
    Buffer.alloc(70_000, 7),
    '',
    'end\r\n',
  ];
  const file = AtomicFile.create(target);
  for (const piece of pieces) file.write(piece);
  t.equal(await readFile(target, 'utf8'), 'old\r\n', 'the target is untouched until commit');
  await file.commit();
  t.same(await readFile(target), Buffer.concat(pieces.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p))), 'the same bytes, in order');
  t.same(await readdir(dir), ['local.cf'], 'no temp file is left');

  const dropped = AtomicFile.create(target);
  dropped.write('half');
  dropped.discard();
  dropped.discard();
  t.same(await readdir(dir), ['local.cf'], 'a discarded write leaves no temp file (and discarding twice is harmless)');
  t.throws(() => dropped.write('more'), /already committed or discarded/, 'a discarded file takes no more writes');
});

t.test('a file whose rename fails is left as it was, with no temp file', async (t) => {
  const dir = await tempDir(t);
  const target = path.join(dir, 'is-a-folder');
  await mkdir(path.join(target, 'inside'), { recursive: true });
  const file = AtomicFile.create(target);
  file.write('text');
  await t.rejects(file.commit(), { code: /^(EISDIR|ENOTEMPTY|EPERM|EEXIST)$/ }, 'renaming over a folder that holds something fails');
  t.same((await readdir(dir)).sort(), ['is-a-folder'], 'the temp file is gone');
  t.same(await readdir(target), ['inside'], 'and the folder is as it was');
});
