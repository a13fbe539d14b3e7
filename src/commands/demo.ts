import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { RunContext } from '../model/context.js';
import type { Report } from '../model/report.js';
import { DEMO_IMAGE, buildImage } from '../demo/image.js';
import { runInstall } from './install.js';

/** Builds a throw-away image of a 64-bit Windows server with a 32-bit Kerio, and installs DCC on it. */
export async function runDemo(report: Report, contextFor: (root: string) => Promise<RunContext>): Promise<void> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'kerio-dcc-demo-'));
  const image = await buildImage(root, DEMO_IMAGE);
  const ctx = await contextFor(root);
  report.target = ctx.target.describe();
  report.simulated = true;
  report.data['image'] = root;
  try {
    await runInstall(ctx, report);
  } finally {
    report.commands = ctx.runner?.records ?? [];
  }
  // The single-file build is run as kerio-dcc.exe; the npm package from its folder.
  const self = path.basename(process.execPath).toLowerCase() === 'kerio-dcc.exe' ? 'kerio-dcc.exe' : 'node bin/kerio-dcc.js';
  const again = `${self} install --root "${root}" --simulate --yes`;
  report.summary = [
    `${report.summary} The demo image (a 64-bit Windows server with 32-bit Kerio Connect in ${image.installDir}) is at:`,
    `  ${root}`,
    'Try next:',
    `  ${again}          (a second run changes nothing)`,
    `  ${self} rollback --root "${root}" --simulate --yes   (undo it exactly)`,
  ].join('\n');
}
