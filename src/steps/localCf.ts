import type { Location } from '../detect/locate.js';
import { dccSettings, ruleFilesMentioningDcc } from '../detect/rules.js';
import type { RunContext } from '../engine/context.js';
import { step, type Action, type StepPlan } from '../engine/plan.js';
import { disableZeroDccScores } from '../patch/dccScore.js';
import { installLocalCf } from '../patch/localCf.js';
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
