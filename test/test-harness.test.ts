// The test harness itself: what every end-to-end test relies on when it starts kerio-dcc.
import t from 'tap';
import { runNode } from './helpers/cli.js';

t.test("a CLI child starts without tap's process tracker, with the NODE_OPTIONS the test gave it", async (t) => {
  const show = 'console.log(JSON.stringify(process.env.NODE_OPTIONS ?? null))';
  const plain = await runNode('-e', [show]);
  t.equal(plain.code, 0, 'the child ran', { stderr: plain.stderr });
  t.equal(JSON.parse(plain.stdout), '', 'no NODE_OPTIONS of its own (test/helpers/untrackedChildren.mjs removed the tracker)');
  const given = await runNode('-e', [show], { env: { NODE_OPTIONS: '--no-warnings' } });
  t.equal(JSON.parse(given.stdout), '--no-warnings', 'exactly what the test set');
});
