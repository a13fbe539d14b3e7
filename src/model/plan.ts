import type { CommandRequest } from '../system/runner.js';
import type { WinPath } from '../target/target.js';
import type { FirewallRule } from '../windows/firewall.js';

/**
 * A plan is plain data: what each step found and what it would change. Planning only
 * reads; `apply` is the only code that writes, and it applies exactly this.
 */
export type Action =
  /** `acl`: create it with exactly this owner and DACL (SDDL), in one step, so nobody else can write in it meanwhile. */
  | { kind: 'mkdir'; path: WinPath; acl?: string }
  /** Create or replace a file with these bytes (atomically, via a temp file in the same folder). */
  | {
      kind: 'writeFile';
      path: WinPath;
      content: Buffer;
      /** The program using this file keeps its state in it (DCC's map): undoing the run removes it whatever it holds by then. */
      keepsState?: true;
    }
  | { kind: 'deleteFile'; path: WinPath }
  /** Remove a folder the run is undoing, only if it is empty by then. */
  | { kind: 'removeEmptyDir'; path: WinPath }
  /** A changing firewall command; `before` and `after` let the backup record what the rule set was. */
  | { kind: 'firewall'; request: CommandRequest; ruleName: string; before: FirewallRule[]; after: FirewallRule[] }
  | { kind: 'restartService'; service: string; timeoutSeconds: number }
  /**
   * Give a trusted folder owner Administrators and a protected SYSTEM/Administrators-only
   * DACL; with `inside`, also make Administrators the owner of everything in it and reset
   * each item to inherit that. `before` (its SDDL) is recorded in the backup.
   */
  | { kind: 'secureFolder'; path: WinPath; before: string; inside: boolean }
  /** Put back a folder's owner and DACL as recorded (undoing secureFolder). */
  | { kind: 'setAcl'; path: WinPath; sddl: string; before: string }
  /** A changing schtasks call (register from the task file in the state folder, or delete) for the watch task. */
  | { kind: 'task'; request: CommandRequest; taskName: string };

export type StepId =
  | 'locate'
  | 'backup'
  | 'dcc-client'
  | 'dcc-map'
  | 'profile'
  | 'map'
  | 'local-cf'
  | 'v310-pre'
  | 'firewall'
  | 'service'
  | 'verify'
  | 'restore'
  | 'remove'
  | 'permissions'
  | 'watch';

export type PlannedStatus = 'change' | 'unchanged' | 'skipped';
export type StepStatus = 'changed' | 'unchanged' | 'skipped' | 'failed' | 'would-change' | 'not-run';

/** One thing `status` reports: does it hold? */
export interface Check {
  id: string;
  title: string;
  /** true: holds; false: drifted or missing; null: not checked here (e.g. no system under --root). */
  ok: boolean | null;
  detail: string;
}

export interface StepPlan {
  id: StepId;
  title: string;
  status: PlannedStatus;
  /** One line for the administrator: what was found, or what will change and why. */
  detail: string;
  /** Unified diffs of text files this step changes. */
  diffs: string[];
  /** Things worth knowing that are not changes (a BOM removed, a rule that decided something). */
  notes: string[];
  actions: Action[];
  /** The Kerio service reads what this step changes, so a change here calls for a restart. */
  serviceReads: boolean;
  /** Files whose current content this step was computed from (sha256; null: absent). */
  reads: Map<WinPath, string | null>;
  /**
   * What `status` reports of this step, from the same reading the plan was made from: a
   * step that would change is drift, and these checks say which part and where.
   */
  checks: Check[];
  /**
   * Why this step cannot be carried out safely (a file behind a link, broken markers), when
   * its planning still found what status reports: install stops on it before any change.
   */
  refusal?: { message: string; hint?: string };
}

export interface Plan {
  command: 'install' | 'uninstall' | 'rollback' | 'secure' | 'watch';
  steps: StepPlan[];
  /** Files whose current content the plan was computed from: apply refuses if they changed since. */
  readHashes: Map<WinPath, string | null>;
  /** Every folder whose files are backed up whole before a change (the rules folder). */
  backupTrees: WinPath[];
  /** The administrator's decision on DCC's licence, when the run provisions the bundled client: recorded in the backup. */
  dccLicense?: DccLicenseDecision;
}

export interface DccLicenseDecision {
  accepted: true;
  /** answers: [dcc] accept_license = yes; prompt: asked and accepted at the terminal. */
  how: 'answers' | 'prompt';
  /** sha256 of the LICENSE text that was accepted. */
  sha256: string;
}

export function planChanges(plan: Plan): boolean {
  return plan.steps.some((s) => s.status === 'change');
}

export function step(id: StepId, title: string, fields: Partial<StepPlan> & Pick<StepPlan, 'status' | 'detail'>): StepPlan {
  return { id, title, diffs: [], notes: [], actions: [], serviceReads: false, reads: new Map(), checks: [], ...fields };
}

/** The files every step of a plan was computed from: apply refuses if one changed since. */
export function readsOf(steps: StepPlan[]): Plan['readHashes'] {
  return new Map(steps.flatMap((s) => [...s.reads]));
}
