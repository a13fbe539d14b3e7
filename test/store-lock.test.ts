// One changing run at a time (src/store/lock.ts), as a unit: the CLI suites reach the lock on
// every run, but only the fault-injection suite (minutes long) ever finds one held or stale.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import t, { type Test } from 'tap';
import { LOCK_NAME, acquireLock } from '../src/store/lock.js';
import { inImage, makeImage } from './helpers/cli.js';
import { runContext } from './helpers/context.js';
import { failingAt } from './helpers/faults.js';

const STATE = 'C:\\ProgramData\\kerio-dcc';
const BACKUPS = `${STATE}\\backups`;
const HELD = new RegExp(`^Another kerio-dcc run holds the lock: install \\(pid \\d+ on [^,]+, started [^)]+\\)\\.$`);

async function lockContext(t: Test) {
  const img = await makeImage(t);
  const { ctx, warnings } = await runContext(t, img.root);
  return { ctx, warnings, root: img.root, file: inImage(img.root, `${BACKUPS}\\${LOCK_NAME}`) };
}

/** A pid that no process has any more: a child that has exited and been reaped. */
const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!;

const lockOf = (pid: number, host = os.hostname()) => JSON.stringify({ pid, host, command: 'install', startedAt: '2026-12-02T10:00:00.000Z' });

t.test('a run takes the lock, saying who holds it, and gives it back with the folders it made', async (t) => {
  const { ctx, file, root } = await lockContext(t);
  t.notOk(existsSync(inImage(root, BACKUPS)), 'the demo server has no backups folder yet');
  const lock = await acquireLock(ctx, 'install');
  t.match(JSON.parse(await readFile(file, 'utf8')), { pid: process.pid, host: os.hostname(), command: 'install', startedAt: /^\d{4}-\d\d-\d\dT/ });
  await lock.release();
  t.notOk(existsSync(inImage(root, BACKUPS)), 'releasing it takes away the lock and the folders made for it');

  const again = await acquireLock(ctx, 'install');
  await rm(file);
  await again.release();
  t.pass('a lock already gone is released without an error');
});

t.test('a lock held by a running process stops the run (exit 3), naming the holder', async (t) => {
  const { ctx, file } = await lockContext(t);
  const first = await acquireLock(ctx, 'install');
  const before = await readFile(file, 'utf8');
  const refused = acquireLock(ctx, 'uninstall');
  await t.rejects(refused, {
    exitCode: 3,
    message: HELD,
    hint: `Wait for it to finish. If it is not running any more, delete ${BACKUPS}\\${LOCK_NAME}. Nothing was changed.`,
  });
  t.equal(await readFile(file, 'utf8'), before, 'the holder keeps its lock');
  await first.release();

  await mkdir(inImage(ctx.target.root!, BACKUPS), { recursive: true });
  await writeFile(file, lockOf(1));
  await t.rejects(acquireLock(ctx, 'install'), { message: HELD }, 'so does a lock of any process that still runs (pid 1)');
  await writeFile(file, lockOf(deadPid(), 'OTHER-SERVER'));
  await t.rejects(
    acquireLock(ctx, 'install'),
    { message: /^Another kerio-dcc run holds the lock: install \(pid \d+ on OTHER-SERVER, / },
    "and a lock of another computer's process, which cannot be checked",
  );
});

t.test('a lock left by a process that no longer runs on this computer is taken over, with a warning', async (t) => {
  const { ctx, file, warnings } = await lockContext(t);
  await mkdir(inImage(ctx.target.root!, BACKUPS), { recursive: true });
  const pid = deadPid();
  await writeFile(file, lockOf(pid));
  const lock = await acquireLock(ctx, 'rollback');
  t.same(warnings, [`taking over a lock left by kerio-dcc install (pid ${pid}, started 2026-12-02T10:00:00.000Z), which is no longer running`]);
  t.match(JSON.parse(await readFile(file, 'utf8')), { pid: process.pid, command: 'rollback' }, 'the lock is now this run’s');
  t.same(await readdir(inImage(ctx.target.root!, BACKUPS)), [LOCK_NAME], 'no renamed stale lock is left');
  await lock.release();
});

t.test('a lock that cannot be read is given a moment, then stops the run naming the file', async (t) => {
  const { ctx, file } = await lockContext(t);
  await mkdir(inImage(ctx.target.root!, BACKUPS), { recursive: true });
  await writeFile(file, '{"pid":');
  await t.rejects(acquireLock(ctx, 'install'), {
    message: `${BACKUPS}\\${LOCK_NAME} exists but cannot be read.`,
    hint: 'If no other kerio-dcc is running, delete that file and run again. Nothing was changed.',
  });
  // A lock being written as this run looks: read again a moment later, it names its holder.
  await writeFile(file, '');
  setTimeout(() => void writeFile(file, lockOf(1)), 30);
  await t.rejects(acquireLock(ctx, 'install'), { message: HELD }, 'a lock written meanwhile is read again');
});

t.test('the run that takes the lock clears what runs stopped while backing up left, and says so', async (t) => {
  const { ctx, warnings } = await lockContext(t);
  const partial = inImage(ctx.target.root!, `${BACKUPS}\\20261202T100000Z.partial`);
  await mkdir(partial, { recursive: true });
  const lock = await acquireLock(ctx, 'install');
  t.notOk(existsSync(partial), 'the .partial folder is gone');
  t.same(warnings, [`removed ${BACKUPS}\\20261202T100000Z.partial: the unfinished backup of a run that was stopped before it changed anything`]);
  await lock.release();
});

t.test('a lock that cannot be taken, cleared around or given back fails safe', async (t) => {
  // Each run of a scenario gets a server of its own, so that the counting run and the faulted one reach the same points.
  let run = await lockContext(t);
  const fresh = async () => (run = await lockContext(t));
  await t.rejects(
    failingAt(t, /^lock take /, async () => (await acquireLock((await fresh()).ctx, 'install')).release()),
    { code: 'EIO' },
    'a failure creating the lock stops the run with that error',
  );
  t.notOk(existsSync(run.file), 'and leaves no lock');

  const lock = await failingAt(t, /^clear /, async () => {
    const { ctx } = await fresh();
    await mkdir(inImage(ctx.target.root!, `${BACKUPS}\\20261202T100000Z.partial`), { recursive: true });
    return acquireLock(ctx, 'install');
  });
  t.same(
    run.warnings,
    ['could not remove the unfinished backup of a run stopped while backing up (EIO); it is left for the next run'],
    'an unfinished backup that cannot be cleared is only a warning',
  );
  t.ok(existsSync(run.file), 'the lock is taken all the same');
  await lock.release();

  await failingAt(t, /^lock release /, async () => (await acquireLock((await fresh()).ctx, 'install')).release());
  t.ok(existsSync(run.file), 'a lock that cannot be removed is left, without an error (the next run takes it over: its pid no longer runs)');
});

t.test('a stale lock that cannot be moved aside is tried three times, then the run stops', async (t) => {
  const { ctx, file, warnings } = await lockContext(t);
  await mkdir(`${file}.stale-${process.pid}`, { recursive: true });
  await writeFile(`${file}.stale-${process.pid}/x`, '');
  await writeFile(file, lockOf(deadPid()));
  await t.rejects(acquireLock(ctx, 'install'), { message: `Could not take the lock ${BACKUPS}\\${LOCK_NAME}.`, hint: 'Run again; nothing was changed.' });
  t.equal(warnings.length, 3, 'after three attempts to take it over');
});

t.test(
  'without a system to ask (an image without --simulate), the folders made for the lock are taken away too, and one that cannot be made stops the run',
  async (t) => {
    const img = await makeImage(t);
    await mkdir(inImage(img.root, 'C:\\ProgramData'), { recursive: true });
    const { ctx } = await runContext(t, img.root, { values: { simulate: false } });
    const lock = await acquireLock(ctx, 'install');
    t.ok(existsSync(inImage(img.root, `${BACKUPS}\\${LOCK_NAME}`)), 'the lock is taken');
    await lock.release();
    t.notOk(existsSync(inImage(img.root, 'C:\\ProgramData\\kerio-dcc')), 'the state folder made for it is gone');
    t.ok(existsSync(inImage(img.root, 'C:\\ProgramData')), 'and what was there before is not');

    await writeFile(inImage(img.root, STATE), 'a file where the state folder should be');
    await t.rejects(acquireLock(ctx, 'install'), {
      exitCode: 3,
      message: `Cannot create ${BACKUPS} (ENOTDIR).`,
      hint: 'Set backup.dir in the answers file to a folder you can write to. Nothing was changed.',
    });
  },
);
