import { locate, type Location } from '../detect/locate.js';
import { decideProfileDirs } from '../detect/profileDirs.js';
import { readIfExists } from '../fs/files.js';
import { restoreZeroDccScores } from '../patch/dccScore.js';
import { uninstallLocalCf } from '../patch/localCf.js';
import { disableDccPlugin } from '../patch/v310Pre.js';
import { NO_SYSTEM } from '../steps/firewall.js';
import { planScoreEdits, textEditStep } from '../steps/localCf.js';
import { planService } from '../steps/service.js';
import { planTextEdit } from '../steps/textEdit.js';
import { joinWin } from '../target/target.js';
import { dccFirewallRules, deleteRuleRequest, showRules } from '../windows/firewall.js';
import { backupStep, locateStep } from './commonSteps.js';
import type { RunContext } from './context.js';
import { readHashesOf } from './installPlan.js';
import { step, type Action, type Plan, type StepPlan } from './plan.js';

/** Map copies identical to DCC's map are ours to remove; a different file there is left alone. */
async function planMapRemoval(ctx: RunContext, location: Location): Promise<StepPlan> {
  const decision = await decideProfileDirs(ctx, location);
  const source = await readIfExists(ctx.target.toHost(location.map));
  const actions: Action[] = [];
  const notes: string[] = [];
  for (const dir of decision.dirs) {
    const copy = joinWin(dir, 'map');
    const bytes = await readIfExists(ctx.target.toHost(copy));
    if (bytes === null) continue;
    if (source !== null && bytes.equals(source)) actions.push({ kind: 'deleteFile', path: copy });
    else notes.push(`${copy} is left in place: it is not a copy of ${location.map}`);
  }
  return step('map', 'DCC map file', {
    status: actions.length ? 'change' : 'unchanged',
    detail: actions.length ? `remove ${actions.map((a) => ('path' in a ? a.path : '')).join(', ')}` : 'no map copy to remove',
    notes,
    actions,
    serviceReads: true,
  });
}

async function planFirewallRemoval(ctx: RunContext): Promise<StepPlan> {
  const title = 'firewall (UDP 6277)';
  if (!ctx.answers.firewall.enabled) return step('firewall', title, { status: 'skipped', detail: 'firewall.enabled = false in the answers file' });
  if (!ctx.runner) return step('firewall', title, { status: 'skipped', detail: NO_SYSTEM });
  const actions: Action[] = [];
  for (const wanted of dccFirewallRules(ctx.answers.firewall.namePrefix)) {
    const found = await showRules(ctx.runner, ctx.target, wanted.name);
    if (found.length) actions.push({ kind: 'firewall', request: deleteRuleRequest(ctx.target, wanted.name), ruleName: wanted.name, before: found, after: [] });
  }
  return step('firewall', title, {
    status: actions.length ? 'change' : 'unchanged',
    detail: actions.length ? `delete ${actions.map((a) => (a.kind === 'firewall' ? `"${a.ruleName}"` : '')).join(' and ')}` : 'no kerio-dcc rule to delete',
    actions,
  });
}

/** Takes DCC out without needing an earlier backup: the reverse of each install step. */
export async function planUninstall(ctx: RunContext): Promise<{ plan: Plan; location: Location }> {
  const location = await locate(ctx, { requireDcc: false });
  const map = await planMapRemoval(ctx, location);
  // A missing local.cf holds no block to take out: nothing to do, and nothing to create.
  const local = await planTextEdit(ctx, location.localCf, (bytes) => {
    if (bytes === null) return { bytes: Buffer.alloc(0), changed: false, notes: [] };
    const unblocked = uninstallLocalCf(bytes);
    const restored = restoreZeroDccScores(unblocked.bytes);
    return { bytes: restored.bytes, changed: unblocked.changed || restored.changed, notes: [...unblocked.notes, ...restored.notes] };
  }, { mayCreate: true });
  const edits = [local, ...(await planScoreEdits(ctx, location, restoreZeroDccScores))];
  const localStep = textEditStep('local-cf', 'local.cf', edits, 'no kerio-dcc block and no score line turned off by kerio-dcc', (changed) => `update ${changed.map((e) => e.path).join(', ')}`);
  const v310 = await planTextEdit(ctx, location.v310Pre, (b) => disableDccPlugin(b!), { mayCreate: false });
  const v310Step = textEditStep('v310-pre', 'v310.pre', [v310], 'the DCC plugin is not loaded', () => `stop loading the DCC plugin in ${location.v310Pre}`);
  const firewall = await planFirewallRemoval(ctx);
  // First: a scheduled repair left running would put DCC back.
  const watch = await (await import('../managed/watchTask.js')).planWatchRemoval(ctx);
  const fileSteps = [...(watch.status === 'change' ? [watch] : []), map, localStep, v310Step, firewall];
  const service = planService(ctx, fileSteps);
  const changing = [...fileSteps, service];
  return {
    location,
    plan: {
      command: 'uninstall',
      steps: [locateStep(location), backupStep(ctx, location, changing), ...changing],
      readHashes: readHashesOf([...edits, v310]),
      backupTrees: [location.rulesDir],
    },
  };
}
