import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { copyAndHashFile, fileContains, kindOf, readIfExists, readsBackAs, sha256, sha256File, sha256IfExists, sizeOf, walk } from '../src/fs/files.js';
import { eachInSlices } from '../src/fs/slices.js';
import { AtomicFile, LockedFileError, atomicWrite, isLeftoverTemp, retryWhileLocked } from '../src/fs/atomicWrite.js';
import { tempDir } from './helpers/cli.js';
import { failingAt, handlesIn } from './helpers/faults.js';

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
  execFileSync('mkfifo', [path.join(dir, 'b', 'fifo')]);
  const seen = [...walk(path.join(dir, 'b'))].map((e) => `${e.relative.split(path.sep).join('/')}:${e.kind}`).sort();
  t.same(seen, ['b.cf:file', 'c/c.cf:file', 'fifo:other', 'link:link']);
  if (process.platform === 'linux') t.equal(await handlesIn(dir), 0, 'no folder handle is left open');
});

t.test('subfolders are walked in name order, so every run backs up in the same order', async (t) => {
  const dir = await tempDir(t);
  const names = Array.from({ length: 30 }, (_, i) => `sub ${String.fromCharCode(122 - i)}${i}`);
  for (const name of names) {
    await mkdir(path.join(dir, name));
    await writeFile(path.join(dir, name, 'x.cf'), name);
  }
  t.same(
    [...walk(dir)].map((e) => path.dirname(e.relative)),
    [...names].sort(),
  );
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

const onLinux = { skip: process.platform !== 'linux' && 'counts open handles in /proc' };

/** An error as Windows gives it while antivirus holds the file, or any other. */
const failure = (code?: string) => Object.assign(new Error(`failed${code ? ` (${code})` : ''}`), code ? { code } : {});

t.test('a locked file is retried with a growing wait, for a bounded time; any other error stops at once', async (t) => {
  for (const code of ['EPERM', 'EBUSY', 'EACCES']) {
    const waits: number[] = [];
    let calls = 0;
    const result = await retryWhileLocked(
      'C:\\x',
      async () => {
        if (++calls <= 2) throw failure(code);
        return 'done';
      },
      { sleep: async (ms) => void waits.push(ms) },
    );
    t.same([result, waits], ['done', [50, 100]], `${code}: retried after 50 and 100 ms, then it worked`);
  }
  const waits: number[] = [];
  await t.rejects(
    retryWhileLocked('/host/local.cf', () => Promise.reject(failure('EBUSY')), { budgetMs: 5000, sleep: async (ms) => void waits.push(ms) }),
    new LockedFileError('/host/local.cf', 'EBUSY'),
    'a file still locked after the budget fails with LockedFileError',
  );
  t.same(waits, [50, 100, 200, 400, 800, 1000, 1000, 1000, 1000], 'the wait doubles up to 1 s, until 5 s have been waited');
  const exactly: number[] = [];
  await t.rejects(
    retryWhileLocked('x', () => Promise.reject(failure('EBUSY')), { budgetMs: 150, sleep: async (ms) => void exactly.push(ms) }),
    LockedFileError,
  );
  t.same(exactly, [50, 100], 'a budget waited exactly is used up');
  t.equal(
    new LockedFileError('/host/local.cf', 'EBUSY').message,
    '/host/local.cf stayed locked (EBUSY) while replacing it; another program (antivirus, an indexer, Kerio) holds it open',
    'and says which file and why',
  );
  const byDefault: number[] = [];
  await t.rejects(
    retryWhileLocked('x', () => Promise.reject(failure('EPERM')), { sleep: async (ms) => void byDefault.push(ms) }),
    LockedFileError,
  );
  t.equal(
    byDefault.reduce((a, b) => a + b, 0),
    10_550,
    'by default it gives up after 10 s of waiting',
  );
  for (const code of ['ENOENT', undefined]) {
    let slept = false;
    await t.rejects(
      retryWhileLocked('x', () => Promise.reject(failure(code)), { sleep: async () => void (slept = true) }),
      { message: failure(code).message },
      `${code ?? 'an error without a code'}: thrown at once`,
    );
    t.equal(slept, false, `${code ?? 'no code'}: without waiting`);
  }
  const started = Date.now();
  await t.rejects(
    retryWhileLocked('x', () => Promise.reject(failure('EBUSY')), { budgetMs: 60 }),
    LockedFileError,
  );
  t.ok(Date.now() - started >= 140, 'the waits are real time when no sleep is given (50 + 100 ms)');
});

t.test('the temp file of a replacement is named so that it is recognised as a leftover, and nothing else is', async (t) => {
  for (const name of ['.local.cf.kerio-dcc-0123abcd.tmp', '.ab.kerio-dcc-ffffffff.tmp', '.v310.pre.kerio-dcc-00000000.tmp'])
    t.ok(isLeftoverTemp(name), `${name} is one`);
  for (const name of [
    'local.cf.kerio-dcc-0123abcd.tmp',
    '..kerio-dcc-0123abcd.tmp',
    '.x.kerio-dcc-0123abc.tmp',
    '.x.kerio-dcc-0123ABCD.tmp',
    '.x.kerio-dcc-0123abcd.tmp.bak',
    'x.tmp',
    '.x.kerio-dcc-0123abcdx.tmp',
  ])
    t.notOk(isLeftoverTemp(name), `${name} is not`);
  const dir = await tempDir(t);
  const file = AtomicFile.create(path.join(dir, 'local.cf'));
  file.write('x');
  const names = await readdir(dir);
  t.match(names, [/^\.local\.cf\.kerio-dcc-[0-9a-f]{8}\.tmp$/], 'a write in progress is a hidden temp file beside its target');
  t.ok(isLeftoverTemp(names[0]!), 'which is recognised as a leftover');
  file.discard();
});

t.test('a file is replaced atomically with exactly its new bytes', async (t) => {
  const dir = await tempDir(t);
  const target = path.join(dir, 'local.cf');
  for (const content of [Buffer.from('score DCC_CHECK 0\r\n'), Buffer.alloc(200_000, 'é'), Buffer.alloc(0)]) {
    await writeFile(target, 'old\n');
    await atomicWrite(target, content);
    t.same(await readFile(target), content, `${content.length} bytes: the file holds them`);
    t.same(await readdir(dir), ['local.cf'], `${content.length} bytes: no temp file is left`);
  }
});

t.test('a replacement that fails at any step leaves the file as it was, with no temp file and no open handle', onLinux, async (t) => {
  const dir = await tempDir(t);
  const target = path.join(dir, 'local.cf');
  const content = Buffer.alloc(100_000, 'n');
  for (const step of ['temp create', 'temp write', 'fsync', 'rename']) {
    const label = new RegExp(`^${step} ${target.replace(/[\\.]/g, '\\$&')}$`);
    await t.rejects(
      failingAt(t, label, async () => {
        await writeFile(target, 'old\n');
        await atomicWrite(target, content);
      }),
      { code: 'EIO', message: /^injected fault at point \d+ \(/ },
      `a fault at ${step} fails the write`,
    );
    t.equal(await readFile(target, 'utf8'), 'old\n', `${step}: the file is as it was`);
    t.same(await readdir(dir), ['local.cf'], `${step}: no temp file is left`);
    t.equal(await handlesIn(dir), 0, `${step}: no handle is left open`);
  }
});

t.test('the helpers that read files close what they open and tell a missing file from a failure', onLinux, async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'v310.pre');
  const bytes = Buffer.from('loadplugin Mail::SpamAssassin::Plugin::DCC\r\n'.repeat(9000));
  await writeFile(file, bytes);
  const expected = createHash('sha256').update(bytes).digest('hex');
  t.equal(sha256(bytes), expected, 'sha256 of bytes');
  t.equal(sha256File(file), expected, 'sha256 of a file larger than the shared buffer');
  t.equal(sha256IfExists(file), expected, 'and when it may be missing');
  t.same(await readIfExists(file), bytes, 'the bytes of a file');
  t.equal(await sizeOf(file), bytes.length, 'its size');
  t.equal(await handlesIn(dir), 0, 'no handle is left open');

  await mkdir(path.join(dir, 'folder'));
  await symlink(file, path.join(dir, 'link'));
  execFileSync('mkfifo', [path.join(dir, 'fifo')]);
  const kinds: [string, string | null][] = [
    ['v310.pre', 'file'],
    ['folder', 'dir'],
    ['link', 'link'],
    ['fifo', 'other'],
    ['missing', null],
    ['v310.pre/below-a-file', null],
  ];
  for (const [name, kind] of kinds) t.equal(await kindOf(path.join(dir, name)), kind, `${name} is ${kind}`);
  for (const name of ['missing', 'v310.pre/below-a-file']) {
    t.equal(sha256IfExists(path.join(dir, name)), null, `${name}: no hash`);
    t.equal(await readIfExists(path.join(dir, name)), null, `${name}: no bytes`);
  }
  t.equal(await sizeOf(path.join(dir, 'missing')), null, 'a missing file has no size');
  const tooLong = path.join(dir, 'x'.repeat(300));
  for (const [what, read] of [
    ['kindOf', () => kindOf(tooLong)],
    ['readIfExists', () => readIfExists(tooLong)],
    ['sha256IfExists', async () => sha256IfExists(tooLong)],
    ['sizeOf', () => sizeOf(tooLong)],
  ] as const)
    await t.rejects(read(), { code: 'ENAMETOOLONG' }, `${what}: a path that cannot be read is an error, not a missing file`);
  t.throws(() => sha256IfExists(path.join(dir, 'folder')), { code: 'EISDIR' }, 'a folder is not a missing file');
  t.equal(await handlesIn(dir), 0, 'still no handle open');

  const dropped = AtomicFile.create(path.join(dir, 'local.cf'));
  dropped.write('half');
  dropped.discard();
  t.equal(await handlesIn(dir), 0, 'a discarded replacement closes its temp file');
});
