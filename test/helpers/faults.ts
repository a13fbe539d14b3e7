// In-process fault injection for unit tests: the hook of src/fault.ts, which the CLI suites
// (test/fault-injection*.test.ts) drive through the environment of each kerio-dcc they start.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { tempDir } from './cli.js';

/**
 * Runs `scenario` once to number its fault points (fault.ts), then again with an I/O error at
 * the first point whose label matches: the in-process form of the fault-injection suite.
 */
export async function failingAt<T>(t: { teardown(fn: () => unknown): void }, label: RegExp, scenario: () => Promise<T>): Promise<T> {
  const log = path.join(await tempDir(t), 'points');
  const env = process.env;
  env['KERIO_DCC_FAULT'] = 'count';
  env['KERIO_DCC_FAULT_LOG'] = log;
  try {
    await scenario();
    const points = (await readFile(log, 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => ({ n: Number(l.split('\t')[0]), label: l.split('\t')[1]! }));
    const at = points.find((p) => label.test(p.label));
    if (!at) throw new Error(`no fault point matches ${label}: ${points.map((p) => p.label).join(', ')}`);
    // The numbering goes on from the counting run: the point comes as many points later again.
    env['KERIO_DCC_FAULT'] = `${points.at(-1)!.n + at.n - points[0]!.n + 1}:throw`;
    return await scenario();
  } finally {
    delete env['KERIO_DCC_FAULT'];
    delete env['KERIO_DCC_FAULT_LOG'];
  }
}
