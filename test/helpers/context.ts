// A run's context in process, built as the CLI builds it, for tests that call the engine or the
// store directly instead of starting kerio-dcc.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildContext } from '../../src/cli/context.js';
import type { RunContext } from '../../src/model/context.js';
import { tempDir } from './cli.js';

/**
 * The context of an `install` on the image at `root` (with its simulated system unless `values`
 * says `simulate: false`), with a UI that prints nothing and keeps the warnings; `ini`: the text
 * of an answers file to load.
 */
export async function runContext(
  t: { teardown(fn: () => unknown): void },
  root: string,
  options: { values?: Record<string, string | boolean>; ini?: string } = {},
): Promise<{ ctx: RunContext; warnings: string[] }> {
  const values: Record<string, string | boolean> = { root, simulate: true, ...options.values };
  if (options.ini !== undefined) {
    const answers = path.join(await tempDir(t), 'answers.ini');
    await writeFile(answers, options.ini);
    values['answers'] = answers;
  }
  const ctx = await buildContext({ name: 'install', values, positionals: [] });
  const warnings: string[] = [];
  Object.assign(ctx.ui, { info: () => undefined, warn: (m: string) => warnings.push(m), progress: null });
  return { ctx, warnings };
}
