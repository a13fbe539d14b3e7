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
 * fault-injection suite. With several labels, a fault at each in turn: the second is looked for
 * among the points the run reaches after the first fault (a restore's own points, say), so the
 * scenario runs once more per label.
 */
export async function failingAt<T>(t: { teardown(fn: () => unknown): void }, label: RegExp | RegExp[], scenario: () => Promise<T>, code = 'EIO'): Promise<T> {
  const labels = Array.isArray(label) ? label : [label];
  const dir = await tempDir(t);
  const env = process.env;
  /** The faults, as places within a run (0 is its first point). */
  const faults: number[] = [];
  /** The number the next run's first point gets: the numbering goes on from run to run. */
  let next = 0;
  const spec = () => (faults.length ? faults.map((f) => `${next + f}:${code}`).join(',') : 'count');
  try {
    for (const [i, wanted] of labels.entries()) {
      const log = path.join(dir, `points-${i}`);
      env['KERIO_DCC_FAULT'] = spec();
      env['KERIO_DCC_FAULT_LOG'] = log;
      // The counting run must succeed; a run with the faults found so far fails, as it should.
      if (i === 0) await scenario();
      else await scenario().catch(() => undefined);
      const points = faultPointsOf(await readFile(log, 'utf8').catch(() => ''));
      const first = points[0]?.n ?? next;
      const at = points.find((p) => p.n - first > (faults.at(-1) ?? -1) && wanted.test(p.label));
      if (!at) throw new Error(`no fault point matches ${wanted}: ${points.map((p) => p.label).join(', ')}`);
      faults.push(at.n - first);
      next = points.at(-1)!.n + 1;
    }
    env['KERIO_DCC_FAULT'] = spec();
    delete env['KERIO_DCC_FAULT_LOG'];
    return await scenario();
  } finally {
    delete env['KERIO_DCC_FAULT'];
    delete env['KERIO_DCC_FAULT_LOG'];
  }
}
