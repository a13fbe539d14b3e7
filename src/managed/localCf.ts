import type { Location } from '../detect/locate.js';
import { ruleFilesMentioningDcc } from '../detect/rules.js';
import type { RunContext } from '../engine/context.js';
import { step, type Action, type StepPlan } from '../engine/plan.js';
import { disableZeroDccScores } from '../patch/dccScore.js';
import { disableSplitPronePaths, installLocalCf, type DccSettings } from '../patch/localCf.js';
import { planTextEdit, type TextEdit } from './textEdit.js';

/** Other .cf files that carry a `score DCC_CHECK 0`; only those are patched. */
export async function planScoreEdits(ctx: RunContext, location: Location, patch: (b: Buffer) => { bytes: Buffer; changed: boolean; notes: string[] }): Promise<TextEdit[]> {
  const edits: TextEdit[] = [];
  for (const file of await ruleFilesMentioningDcc(ctx, location.rulesDir)) {
    if (file.toLowerCase() === location.localCf.toLowerCase()) continue;
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

/** `paths` is what detect/dccPaths.ts decided: the settings to write, and notes on why a path was shortened. */
export async function planLocalCf(ctx: RunContext, location: Location, paths: { settings: DccSettings; notes: string[] }): Promise<{ step: StepPlan; edits: TextEdit[] }> {
  const { settings } = paths;
  const local = await planTextEdit(
    ctx,
    location.localCf,
    (bytes) => {
      const scored = bytes === null ? null : disableZeroDccScores(bytes);
      const unsplit = scored === null ? null : disableSplitPronePaths(scored.bytes);
      const block = installLocalCf(unsplit ? unsplit.bytes : null, settings);
      const changed = (scored?.changed ?? false) || (unsplit?.changed ?? false) || block.changed;
      return { bytes: block.bytes, changed, notes: [...(scored?.notes ?? []), ...(unsplit?.notes ?? []), ...block.notes] };
    },
    { mayCreate: true },
  );
  const edits = [local, ...(await planScoreEdits(ctx, location, disableZeroDccScores))];
  const created = local.readHash === null;
  const step = textEditStep(
    'local-cf',
    'local.cf',
    edits,
    `DCC settings in place, no score DCC_CHECK 0 active`,
    (changed) => `${created ? 'create' : 'update'} ${changed.map((e) => e.path).join(', ')}`,
  );
  step.notes.push(...paths.notes);
  return { edits, step };
}
