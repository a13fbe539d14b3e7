// The test command of `npm run mutate` (stryker.config.mjs): runs the given tap files in
// Stryker's sandbox. The CLI tests run dist/, so dist is compiled once from the sandbox's
// instrumented sources: they hold every mutant, and the one that is active is chosen at run
// time from the environment (which every CLI child inherits), so one build serves them all.
// A mutant is killed by its first failing test: the files run one tap run each, in the order
// given (the set lists its fast unit tests first), and the first failing one ends the run;
// within a file, --bail skips the tests after the first failure. (tap's --bail alone does not
// do it: tap 21 still runs the remaining files after bailing out, it only stops reporting.)
// MUTATE_TESTS (space-separated files) replaces the set's list, e.g. to run only the CLI
// tests against the survivors of a unit-test run (README, Development).
import { spawnSync } from 'node:child_process';
import { existsSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const bin = (pkg, file) => require.resolve(`${pkg}/package.json`).replace(/package\.json$/, file);
const run = (script, args) => spawnSync(process.execPath, [script, ...args], { stdio: 'inherit' }).status ?? 1;

// The tests find the real SpamAssassin rules and DCC source in ../shared (next to the
// checkout). The sandbox is .stryker-tmp/sandbox-*/ inside the checkout, so without this link
// every fixture test would be skipped and the score would not count them.
const shared = path.resolve('..', 'shared');
const realShared = path.resolve('..', '..', '..', 'shared');
if (!existsSync(shared) && existsSync(realShared)) {
  try {
    symlinkSync(realShared, shared, 'dir');
  } catch (err) {
    if (err.code !== 'EEXIST') throw err;
  }
}

const marker = 'dist/.mutation-build';
if (!existsSync(marker)) {
  const built = run(bin('typescript', 'bin/tsc'), ['-p', 'tsconfig.json']);
  if (built !== 0) process.exit(built);
  writeFileSync(marker, '');
}
const files = process.env.MUTATE_TESTS?.trim() ? process.env.MUTATE_TESTS.trim().split(/\s+/) : process.argv.slice(2);
for (const file of files) {
  const status = run(bin('tap', 'dist/esm/run.mjs'), ['--reporter=terse', '--bail', file]);
  if (status !== 0) process.exit(status);
}
