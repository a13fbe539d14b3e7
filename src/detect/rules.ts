// What the rules folder holds, read only: shared by planning and by `status`, which must
// not load the planners (and their diff library) just to look.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { RunContext } from '../engine/context.js';
import { fileContains } from '../fs/files.js';
import { eachInSlices } from '../fs/pool.js';
import type { DccSettings } from '../patch/localCf.js';
import { joinWin, type WinPath } from '../target/target.js';
import type { Location } from './locate.js';

export function dccSettings(location: Location, ctx: RunContext): DccSettings {
  return { home: location.dccHome, dccproc: location.dccproc, extraLines: ctx.answers.dcc.extraLines };
}

/**
 * The .cf files SpamAssassin reads from the rules folder: it does not descend into
 * subfolders, and it follows links, so a linked .cf counts too.
 */
export async function ruleFiles(ctx: RunContext, rulesDir: WinPath): Promise<WinPath[]> {
  const host = ctx.target.toHost(rulesDir);
  const files: WinPath[] = [];
  for (const e of await readdir(host, { withFileTypes: true })) {
    if (!e.name.toLowerCase().endsWith('.cf')) continue;
    if (e.isFile() || (e.isSymbolicLink() && (await stat(path.join(host, e.name)).catch(() => null))?.isFile())) files.push(joinWin(rulesDir, e.name));
  }
  return files.sort();
}

/**
 * The rule files that mention DCC_CHECK at all: only those can score it, so only those are
 * ever read whole. The rest are scanned through one small buffer.
 */
export async function ruleFilesMentioningDcc(ctx: RunContext, rulesDir: WinPath): Promise<WinPath[]> {
  const found: WinPath[] = [];
  await eachInSlices(await ruleFiles(ctx, rulesDir), (file) => {
    if (fileContains(ctx.target.toHost(file), 'DCC_CHECK')) found.push(file);
  });
  return found;
}
