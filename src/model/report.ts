import type { CommandRecord } from '../system/runner.js';
import type { StepPlan, StepStatus } from './plan.js';

export interface StepReport {
  id: string;
  title: string;
  status: StepStatus;
  detail: string;
  diffs: string[];
  notes: string[];
}

/** What a command tells the administrator (human output) or a script (--json). Built as the command runs. */
export interface Report {
  command: string;
  ok: boolean;
  changed: boolean;
  dryRun: boolean;
  simulated: boolean;
  target: string;
  backup: string | null;
  steps: StepReport[];
  warnings: string[];
  /** Command-specific results (backups list, status checks...). */
  data: Record<string, unknown>;
  /** A closing sentence for the human output. */
  summary: string;
  /** The plan with its diffs was already shown (before a confirmation): the end repeats only the statuses. */
  planShown: boolean;
  error: { message: string; hint: string | null } | null;
  exitCode: number;
  commands: CommandRecord[];
}

export function newReport(command: string): Report {
  return {
    command,
    ok: true,
    changed: false,
    dryRun: false,
    simulated: false,
    target: '',
    backup: null,
    steps: [],
    warnings: [],
    data: {},
    summary: '',
    planShown: false,
    error: null,
    exitCode: 0,
    commands: [],
  };
}

export function stepReports(steps: StepPlan[], statuses: Map<string, StepStatus>): StepReport[] {
  return steps.map((s) => ({
    id: s.id,
    title: s.title,
    status: statuses.get(s.id) ?? (s.status as StepStatus),
    detail: s.detail,
    diffs: s.diffs,
    notes: s.notes,
  }));
}
