// Mutation testing of the safety-critical modules (npm run mutate; README, Development).
// Stryker's `command` runner runs the tap files that cover the modules of a set once per
// mutant (coverageAnalysis off), fast unit tests first; scripts/mutation-tests.mjs stops at
// the first failing file. MUTATE_SET picks the set; MUTATE_TESTS replaces its test files.
// (@stryker-mutator/tap-runner 9.6.1 installs on Node 20, but its per-test coverage cannot
// see the code the CLI tests run in child processes: it would call those mutants uncovered.)
const SETS = {
  quick: {
    mutate: ['src/system/runner.ts', 'src/windows/pe.ts'],
    tests: ['test/runner.test.ts', 'test/windows-pe.test.ts'],
  },
  patchers: {
    mutate: ['src/patch/*.ts'],
    tests: ['test/patch-localcf.test.ts', 'test/patch-v310pre.test.ts', 'test/patch-dccscore.test.ts'],
  },
  windows: {
    mutate: ['src/windows/pe.ts', 'src/windows/firewall*.ts', 'src/windows/service.ts', 'src/windows/powershell.ts'],
    tests: ['test/windows-*.test.ts', 'test/cli-install.test.ts'],
  },
  backup: {
    mutate: ['src/store/*.ts', 'src/fs/files.ts', 'src/fs/atomicWrite.ts'],
    tests: [
      'test/fs-files.test.ts',
      'test/backup-manifest.test.ts',
      'test/store-lock.test.ts',
      'test/store-create.test.ts',
      'test/cli-rollback.test.ts',
      'test/cli-backups.test.ts',
      'test/wizard.test.ts',
    ],
  },
  // src/system/runner.ts is measured in `quick`. Apart from execute()'s unit test, these are reached through the CLI only.
  restore: {
    mutate: ['src/engine/apply.ts', 'src/engine/recover.ts', 'src/engine/execute.ts', 'src/store/journal.ts', 'src/store/unfinished.ts'],
    tests: [
      'test/engine-execute.test.ts',
      'test/engine-apply.test.ts',
      'test/cli-recover.test.ts',
      'test/cli-failure-restore.test.ts',
      'test/cli-rollback.test.ts',
      'test/cli-backups.test.ts',
      'test/cli-status.test.ts',
    ],
  },
};
SETS.all = {
  mutate: [...new Set(Object.values(SETS).flatMap((s) => s.mutate))],
  tests: [...new Set(Object.values(SETS).flatMap((s) => s.tests))],
};

const name = process.env.MUTATE_SET ?? 'quick';
const set = SETS[name];
if (!set) throw new Error(`MUTATE_SET=${name}: choose one of ${Object.keys(SETS).join(', ')}`);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  mutate: set.mutate,
  testRunner: 'command',
  commandRunner: { command: `node scripts/mutation-tests.mjs ${set.tests.join(' ')}` },
  coverageAnalysis: 'off',
  // Two cores: two tap runs at a time.
  concurrency: 2,
  // A mutant that hangs costs this much. The service waits (windows, restore) need minutes; elsewhere an
  // endless loop (a write loop that never ends, say) is cut after a minute.
  timeoutMS: ['windows', 'restore', 'all'].includes(name) ? 300_000 : 60_000,
  tempDirName: '.stryker-tmp',
  ignorePatterns: ['dist', '.tap', 'reports'],
  // The json report lists each survivor's location (for a second run with --mutate ranges).
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${name}.html` },
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  cleanTempDir: 'always',
};
