// What the rules folder holds, read only: shared by planning and by `status`, which must
// not load the planners (and their diff library) just to look.
import { opendirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Planning } from '../model/context.js';
import { fileContains } from '../fs/files.js';
import { eachInSlices } from '../fs/slices.js';
import { joinWin, type WinPath } from '../target/target.js';

/**
 * The .cf files SpamAssassin reads from the rules folder, as host names: it does not descend
 * into subfolders, and it follows links, so a linked .cf counts too. Read one entry at a
 * time, so a huge folder is never listed whole.
 */
function* ruleFileNames(hostDir: string): Generator<string> {
  const dir = opendirSync(hostDir);
  try {
    for (let e = dir.readSync(); e !== null; e = dir.readSync()) {
      if (!e.name.toLowerCase().endsWith('.cf')) continue;
      if (e.isFile() || (e.isSymbolicLink() && linksToFile(path.join(hostDir, e.name)))) yield e.name;
    }
  } finally {
    dir.closeSync();
  }
}

/** A broken or looping link is no rule file. */
function linksToFile(hostPath: string): boolean {
  try {
    return statSync(hostPath).isFile();
  } catch {
    return false;
  }
}

/**
 * The rule files that mention DCC_CHECK at all, sorted: only those can score it, so only
 * those are ever read whole. The rest are scanned through one small buffer and forgotten.
 */
export async function ruleFilesMentioningDcc(ctx: Planning, rulesDir: WinPath): Promise<WinPath[]> {
  const host = ctx.target.toHost(rulesDir);
  const found: WinPath[] = [];
  await eachInSlices(ruleFileNames(host), (name) => {
    if (fileContains(path.join(host, name), 'DCC_CHECK')) found.push(joinWin(rulesDir, name));
  });
  return found.sort();
}
