import { PreconditionError, UsageError } from '../errors.js';
import { UnsafeSettingError } from '../patch/localCf.js';
import type { Planning } from '../model/context.js';
import { step, type Action, type StepId, type StepPlan } from '../model/plan.js';
import { kindOf, readIfExists, sha256 } from '../fs/files.js';
import { PatchConflictError, type PatchResult } from '../patch/result.js';
import type { WinPath } from '../target/target.js';

export interface TextEdit {
  path: WinPath;
  changed: boolean;
  diff: string | null;
  notes: string[];
  action: Action | null;
  /** sha256 of the bytes the edit was computed from (null: the file did not exist). */
  readHash: string | null;
}

/** A link or junction is never written through: it could point anywhere, and a backup would not hold it. */
export async function refuseLink(ctx: Planning, path: WinPath): Promise<void> {
  if ((await kindOf(ctx.target.toHost(path))) === 'link') {
    throw new PreconditionError(
      `${path} is a link (symlink or junction); kerio-dcc does not write through links.`,
      'Replace the link with the real file, or point the answers file at the real folder. Nothing was changed.',
    );
  }
}

/** Reads a text file, runs a pure patcher over it, and says what would change. */
export async function planTextEdit(
  ctx: Planning,
  path: WinPath,
  patch: (bytes: Buffer | null) => PatchResult,
  options: { mayCreate: boolean },
): Promise<TextEdit> {
  const before = await readIfExists(ctx.target.toHost(path));
  if (before === null && !options.mayCreate) {
    throw new PreconditionError(`${path} does not exist.`, 'Check kerio.rules_dir in the answers file.');
  }
  let result: PatchResult;
  try {
    result = patch(before);
  } catch (err) {
    if (err instanceof PatchConflictError) {
      throw new PreconditionError(`${path}: ${err.message}`, 'Fix the file by hand (or restore it from a backup: kerio-dcc rollback), then run again.');
    }
    if (err instanceof UnsafeSettingError) throw new UsageError(err.message, 'Fix the value in the answers file. Nothing was changed.');
    throw err;
  }
  const readHash = before === null ? null : sha256(before);
  // Reading through a link is what SpamAssassin does too; writing through one is refused.
  if (result.changed) await refuseLink(ctx, path);
  if (!result.changed) return { path, changed: false, diff: null, notes: result.notes, action: null, readHash };
  return {
    path,
    changed: true,
    // The diff library is loaded only when there is a change to show: status on a server that is in order never needs it.
    diff: (await import('../text/diff.js')).unifiedDiff(path, before, result.bytes),
    notes: result.notes.map((n) => `${path}: ${n}`),
    action: { kind: 'writeFile', path, content: result.bytes },
    readHash,
  };
}

/** The step of one or more text edits: each changed file is written, each file read is guarded against change before apply. */
export function textEditStep(id: StepId, title: string, edits: TextEdit[], unchangedDetail: string, changedDetail: (changed: TextEdit[]) => string): StepPlan {
  const changed = edits.filter((e) => e.changed);
  return step(id, title, {
    status: changed.length ? 'change' : 'unchanged',
    detail: changed.length ? changedDetail(changed) : unchangedDetail,
    diffs: changed.map((e) => e.diff!),
    notes: edits.flatMap((e) => e.notes),
    actions: changed.map((e) => e.action as Action),
    serviceReads: true,
    reads: new Map(edits.map((e) => [e.path, e.readHash])),
  });
}
