// The test harness itself: what every end-to-end test relies on when it starts kerio-dcc.
import t from 'tap';
import { runNode } from './helpers/cli.js';
import { untilWineStartsIt } from './helpers/windows/wine.js';

t.test("a CLI child starts without tap's process tracker, with the NODE_OPTIONS the test gave it", async (t) => {
  const show = 'console.log(JSON.stringify(process.env.NODE_OPTIONS ?? null))';
  const plain = await runNode('-e', [show]);
  t.equal(plain.code, 0, 'the child ran', { stderr: plain.stderr });
  t.equal(JSON.parse(plain.stdout), '', 'no NODE_OPTIONS of its own (test/helpers/untrackedChildren.mjs removed the tracker)');
  const given = await runNode('-e', [show], { env: { NODE_OPTIONS: '--no-warnings' } });
  t.equal(JSON.parse(given.stdout), '--no-warnings', 'exactly what the test set');
});

t.test('a program Wine could not start is started again, three tries in all; any other answer is kept', async (t) => {
  const notStarted = { errorlevel: '9009', output: `Can't recognize '"C:\\DCC\\dccproc.exe" -C' as an internal or external command, or batch script.\r\n` };
  const answers = (list: { errorlevel: string; output: string }[]) => {
    let calls = 0;
    return { start: async () => list[Math.min(calls++, list.length - 1)]!, calls: () => calls };
  };
  const started = answers([notStarted, notStarted, { errorlevel: '0', output: 'X-DCC' }]);
  const retried: string[] = [];
  t.same(
    await untilWineStartsIt(
      started.start,
      (r) => r,
      (o) => retried.push(o),
    ),
    { errorlevel: '0', output: 'X-DCC' },
  );
  t.equal(started.calls(), 3);
  t.same(retried, [notStarted.output, notStarted.output], 'each retry is told');

  const never = answers([notStarted]);
  t.same(await untilWineStartsIt(never.start, (r) => r), notStarted, 'after three tries, the last answer');
  t.equal(never.calls(), 3);

  for (const other of [
    { errorlevel: '9009', output: 'unrecognized "Files\\DCC"' },
    { errorlevel: '1', output: notStarted.output },
  ]) {
    const once = answers([other]);
    t.same(await untilWineStartsIt(once.start, (r) => r), other);
    t.equal(once.calls(), 1, `${other.errorlevel} ${other.output}: not started again`);
  }
});
