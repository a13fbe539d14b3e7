/**
 * local.cf: kerio-dcc's block with DCC's settings, no active `score DCC_CHECK 0` anywhere in
 * the rules folder, and no dcc_home/dcc_path that SpamAssassin on Windows would split apart.
 */
import type { Facts } from '../detect/facts.js';
import type { Location } from '../detect/locate.js';
import { ruleFilesMentioningDcc } from '../detect/rules.js';
import type { Planning } from '../model/context.js';
import type { Check } from '../model/plan.js';
import { activeZeroDccScoreLines, disableZeroDccScores, restoreZeroDccScores } from '../patch/dccScore.js';
import { disableSplitPronePaths, findManagedBlock, installLocalCf, splitPronePathLines, uninstallLocalCf, type DccSettings } from '../patch/localCf.js';
import type { PatchResult } from '../patch/result.js';
import { PreconditionError } from '../errors.js';
import { basenameWin } from '../target/target.js';
import type { Managed } from './managed.js';
import { planTextEdit, textEditStep, type TextEdit } from './textEdit.js';

const TITLE = 'local.cf';
const BLOCK = { id: 'block', title: 'kerio-dcc block in local.cf' };
const SPLIT = { id: 'split-paths', title: 'no dcc_home or dcc_path that SpamAssassin would split' };
const SCORES = { id: 'scores', title: 'no active score DCC_CHECK 0' };

/**
 * Other .cf files that carry a `score DCC_CHECK 0`; only those are patched. A file that
 * cannot be patched safely (it is a link) is a refusal, but what it scores is still reported.
 */
async function planScoreEdits(
  ctx: Planning,
  location: Location,
  patch: (b: Buffer) => PatchResult,
): Promise<{ edits: TextEdit[]; zeroLines: { file: string; lines: number[] }[]; refusal?: PreconditionError }> {
  const edits: TextEdit[] = [];
  const zeroLines: { file: string; lines: number[] }[] = [];
  let refusal: PreconditionError | undefined;
  for (const file of await ruleFilesMentioningDcc(ctx, location.rulesDir)) {
    if (file.toLowerCase() === location.localCf.toLowerCase()) continue;
    let lines: number[] = [];
    try {
      edits.push(await planTextEdit(ctx, file, (b) => ((lines = activeZeroDccScoreLines(b!)), patch(b!)), { mayCreate: false }));
    } catch (err) {
      if (!(err instanceof PreconditionError)) throw err;
      refusal ??= err;
    }
    zeroLines.push({ file, lines });
  }
  return { edits, zeroLines, refusal };
}

function blockCheck(location: Location, bytes: Buffer | null, settings: DccSettings, result: PatchResult): Check {
  if (bytes === null) return { ...BLOCK, ok: false, detail: `${location.localCf} does not exist` };
  const found = findManagedBlock(bytes, settings);
  const ok = !result.changed;
  if (!found.present) return { ...BLOCK, ok, detail: 'missing (a Kerio upgrade replaces local.cf)' };
  const lines = `lines ${found.beginLine}-${found.endLine}`;
  return ok ? { ...BLOCK, ok, detail: `present and current (${lines})` } : { ...BLOCK, ok, detail: `present at ${lines}, but not what the answers say` };
}

/** Any dcc_home/dcc_path in local.cf, in the block or written by hand, that dccproc would receive split apart. */
function splitCheck(bytes: Buffer | null): Check {
  const found = bytes === null ? [] : splitPronePathLines(bytes);
  if (found.length === 0) return { ...SPLIT, ok: true, detail: 'none in local.cf' };
  const said = found.map(
    (f) => `local.cf line ${f.line}: ${f.directive} "${f.value}" has ${f.hazard} (${f.inBlock ? "in kerio-dcc's block" : "outside kerio-dcc's block"})`,
  );
  return {
    ...SPLIT,
    ok: false,
    detail: `${said.join('; ')}. SpamAssassin on Windows puts it on dccproc's command line without quotes, where it breaks apart and DCC silently does nothing; install writes the 8.3 short name and turns such lines off`,
  };
}

function scoresCheck(found: { file: string; lines: number[] }[]): Check {
  // In the rules folder's order, as SpamAssassin reads them.
  const active = [...found]
    .sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0))
    .filter((f) => f.lines.length)
    .map((f) => `${basenameWin(f.file)} line ${f.lines.join(', ')}`);
  return active.length
    ? { ...SCORES, ok: false, detail: `DCC is scored zero in ${active.join('; ')}` }
    : { ...SCORES, ok: true, detail: 'none in the rules folder' };
}

export const localCf: Managed = {
  checks: [BLOCK, SPLIT, SCORES],

  async install(ctx, facts: Facts) {
    const { location } = facts;
    const paths = await facts.dccPaths();
    let read: Buffer | null = null;
    let block: PatchResult | null = null;
    let zeroLines: number[] = [];
    const local = await planTextEdit(
      ctx,
      location.localCf,
      (bytes) => {
        read = bytes;
        zeroLines = bytes === null ? [] : activeZeroDccScoreLines(bytes);
        const scored = bytes === null ? null : disableZeroDccScores(bytes);
        const unsplit = scored === null ? null : disableSplitPronePaths(scored.bytes);
        // Without settings (a path that cannot be written safely) only the rest is looked at: install has refused already.
        block = paths.ok
          ? installLocalCf(unsplit ? unsplit.bytes : null, paths.settings)
          : { bytes: unsplit?.bytes ?? Buffer.alloc(0), changed: false, notes: [] };
        const changed = (scored?.changed ?? false) || (unsplit?.changed ?? false) || block.changed;
        return { bytes: block.bytes, changed, notes: [...(scored?.notes ?? []), ...(unsplit?.notes ?? []), ...block.notes] };
      },
      { mayCreate: true },
    );
    const others = await planScoreEdits(ctx, location, disableZeroDccScores);
    const edits = [local, ...others.edits];
    const created = local.readHash === null;
    const planned = textEditStep(
      'local-cf',
      TITLE,
      edits,
      'DCC settings in place, no score DCC_CHECK 0 active',
      (changed) => `${created ? 'create' : 'update'} ${changed.map((e) => e.path).join(', ')}`,
    );
    if (paths.ok) planned.notes.push(...paths.notes);
    planned.checks = [
      paths.ok ? blockCheck(location, read, paths.settings, block!) : { ...BLOCK, ok: paths.unknowable ? null : false, detail: paths.message },
      splitCheck(read),
      scoresCheck([{ file: location.localCf, lines: zeroLines }, ...others.zeroLines]),
    ];
    if (others.refusal) planned.refusal = { message: others.refusal.message, hint: others.refusal.hint };
    return planned;
  },

  async remove(ctx, facts) {
    const { location } = facts;
    // A missing local.cf holds no block to take out: nothing to do, and nothing to create.
    const local = await planTextEdit(
      ctx,
      location.localCf,
      (bytes) => {
        if (bytes === null) return { bytes: Buffer.alloc(0), changed: false, notes: [] };
        const unblocked = uninstallLocalCf(bytes);
        const restored = restoreZeroDccScores(unblocked.bytes);
        return { bytes: restored.bytes, changed: unblocked.changed || restored.changed, notes: [...unblocked.notes, ...restored.notes] };
      },
      { mayCreate: true },
    );
    const others = await planScoreEdits(ctx, location, restoreZeroDccScores);
    if (others.refusal) throw others.refusal;
    const edits = [local, ...others.edits];
    return textEditStep(
      'local-cf',
      TITLE,
      edits,
      'no kerio-dcc block and no score line turned off by kerio-dcc',
      (changed) => `update ${changed.map((e) => e.path).join(', ')}`,
    );
  },
};
