import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Location } from '../detect/locate.js';
import type { RunContext } from '../engine/context.js';
import { step, type Action, type StepPlan } from '../engine/plan.js';
import { fileContains, scratchBuffer } from '../fs/files.js';
import { disableZeroDccScores } from '../patch/dccScore.js';
import { installLocalCf, type DccSettings } from '../patch/localCf.js';
import { joinWin, type WinPath } from '../target/target.js';
import { planTextEdit, type TextEdit } from './textEdit.js';

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

/** Other .cf files that carry a `score DCC_CHECK 0`; only those are patched (and read whole). */
export async function planScoreEdits(ctx: RunContext, location: Location, patch: (b: Buffer) => { bytes: Buffer; changed: boolean; notes: string[] }): Promise<TextEdit[]> {
  const edits: TextEdit[] = [];
  const scratch = scratchBuffer();
  for (const file of await ruleFiles(ctx, location.rulesDir)) {
    if (file.toLowerCase() === location.localCf.toLowerCase()) continue;
    if (!(await fileContains(ctx.target.toHost(file), 'DCC_CHECK', scratch))) continue;
    edits.push(await planTextEdit(ctx, file, (b) => patch(b!), { mayCreate: false }));
  }
  return edits;
}

export function textEditStep(id: 'local-cf' | 'v310-pre', title: string, edits: TextEdit[], unchangedDetail: string, changedDetail: (changed: TextEdit[]) => string): StepPlan {
  const changed = edits.filter((e) => e.changed);
  return step(id, title, {
    status: changed.length ? 'change' : 'unchanged',
    detail: changed.length ? changedDetail(changed) : unchangedDetail,
    diffs: changed.map((e) => e.diff!),
    notes: edits.flatMap((e) => e.notes),
    actions: changed.map((e) => e.action as Action),
    serviceReads: true,
  });
}

export async function planLocalCf(ctx: RunContext, location: Location): Promise<{ step: StepPlan; edits: TextEdit[] }> {
  const settings = dccSettings(location, ctx);
  const local = await planTextEdit(
    ctx,
    location.localCf,
    (bytes) => {
      const scored = bytes === null ? null : disableZeroDccScores(bytes);
      const block = installLocalCf(scored ? scored.bytes : null, settings);
      return { bytes: block.bytes, changed: (scored?.changed ?? false) || block.changed, notes: [...(scored?.notes ?? []), ...block.notes] };
    },
    { mayCreate: true },
  );
  const edits = [local, ...(await planScoreEdits(ctx, location, disableZeroDccScores))];
  const created = local.readHash === null;
  return {
    edits,
    step: textEditStep(
      'local-cf',
      'local.cf',
      edits,
      `DCC settings in place, no score DCC_CHECK 0 active`,
      (changed) => `${created ? 'create' : 'update'} ${changed.map((e) => e.path).join(', ')}`,
    ),
  };
}
