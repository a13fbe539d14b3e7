// In-process fault injection for unit tests: the hook of src/fault.ts, which the CLI suites
// (test/fault-injection*.test.ts) drive through the environment of each kerio-dcc they start.
import { readFile, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { tempDir } from './cli.js';

/** One point a run reached, as KERIO_DCC_FAULT_LOG lists them. */
export interface FaultPoint {
  n: number;
  label: string;
}

/** The points of a fault log (`n<TAB>label` a line); `root`, when given, is written `<root>` in the labels. */
export function faultPointsOf(text: string, root?: string): FaultPoint[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [n, label] = line.split('\t');
      return { n: Number(n), label: root ? label!.split(root).join('<root>') : label! };
    });
}

/** Descriptors this process holds on files below `dir` (Linux: /proc), to prove a handle was closed. */
export async function handlesIn(dir: string): Promise<number> {
  let n = 0;
  for (const fd of await readdir('/proc/self/fd')) if ((await readlink(`/proc/self/fd/${fd}`).catch(() => '')).startsWith(dir + path.sep)) n++;
  return n;
}

/**
 * Runs `scenario` once to number its fault points (fault.ts), then again with an I/O error (or
 * the errno `code`) at the first point whose label matches: the in-process form of the
 * fault-injection suite.
 */
export async function failingAt<T>(t: { teardown(fn: () => unknown): void }, label: RegExp, scenario: () => Promise<T>, code = 'EIO'): Promise<T> {
  const log = path.join(await tempDir(t), 'points');
  const env = process.env;
  env['KERIO_DCC_FAULT'] = 'count';
  env['KERIO_DCC_FAULT_LOG'] = log;
  try {
    await scenario();
    const points = faultPointsOf(await readFile(log, 'utf8'));
    const at = points.find((p) => label.test(p.label));
    if (!at) throw new Error(`no fault point matches ${label}: ${points.map((p) => p.label).join(', ')}`);
    // The numbering goes on from the counting run: the point comes as many points later again.
    env['KERIO_DCC_FAULT'] = `${points.at(-1)!.n + at.n - points[0]!.n + 1}:${code}`;
    return await scenario();
  } finally {
    delete env['KERIO_DCC_FAULT'];
    delete env['KERIO_DCC_FAULT_LOG'];
  }
}
