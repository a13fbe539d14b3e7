import type { Location } from '../detect/locate.js';
import type { RunContext } from '../engine/context.js';
import type { StepPlan } from '../engine/plan.js';
import { enableDccPlugin } from '../patch/v310Pre.js';
import { textEditStep } from './localCf.js';
import { planTextEdit, type TextEdit } from './textEdit.js';

export async function planV310Pre(ctx: RunContext, location: Location): Promise<{ step: StepPlan; edits: TextEdit[] }> {
  const edit = await planTextEdit(ctx, location.v310Pre, (b) => enableDccPlugin(b!), { mayCreate: false });
  return {
    edits: [edit],
    step: textEditStep('v310-pre', 'v310.pre', [edit], 'the DCC plugin is loaded', () => `load the DCC plugin in ${location.v310Pre}`),
  };
}
