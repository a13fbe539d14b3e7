// The test command of `npm run mutate` (stryker.config.mjs): runs the given tap files in
// Stryker's sandbox. The CLI tests run dist/, so dist is compiled once from the sandbox's
// instrumented sources: they hold every mutant, and the one that is active is chosen at run
// time from the environment (which every CLI child inherits), so one build serves them all.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const bin = (pkg, file) => require.resolve(`${pkg}/package.json`).replace(/package\.json$/, file);
const run = (script, args) => spawnSync(process.execPath, [script, ...args], { stdio: 'inherit' }).status ?? 1;

const marker = 'dist/.mutation-build';
if (!existsSync(marker)) {
  const built = run(bin('typescript', 'bin/tsc'), ['-p', 'tsconfig.json']);
  if (built !== 0) process.exit(built);
  writeFileSync(marker, '');
}
process.exit(run(bin('tap', 'dist/esm/run.mjs'), ['--reporter=terse', ...process.argv.slice(2)]));
