/** v310.pre: the line that loads SpamAssassin's DCC plugin. */
import { activeDccLoadplugins, disableDccPlugin, enableDccPlugin } from '../patch/v310Pre.js';
import type { Managed } from './managed.js';
import { planTextEdit, textEditStep } from './textEdit.js';

const PLUGIN = { id: 'plugin', title: 'DCC plugin loaded (v310.pre)' };

export const v310Pre: Managed = {
  checks: [PLUGIN],

  async install(ctx, { location }) {
    let lines: number[] = [];
    const edit = await planTextEdit(ctx, location.v310Pre, (b) => ((lines = activeDccLoadplugins(b!)), enableDccPlugin(b!)), { mayCreate: false });
    const planned = textEditStep('v310-pre', 'v310.pre', [edit], 'the DCC plugin is loaded', () => `load the DCC plugin in ${location.v310Pre}`);
    planned.checks = [
      lines.length === 0
        ? { ...PLUGIN, ok: false, detail: 'the loadplugin line for DCC is missing or commented out' }
        : { ...PLUGIN, ok: true, detail: `line ${lines.join(', ')}` },
    ];
    return planned;
  },

  async remove(ctx, { location }) {
    const edit = await planTextEdit(ctx, location.v310Pre, (b) => disableDccPlugin(b!), { mayCreate: false });
    return textEditStep('v310-pre', 'v310.pre', [edit], 'the DCC plugin is not loaded', () => `stop loading the DCC plugin in ${location.v310Pre}`);
  },
};
