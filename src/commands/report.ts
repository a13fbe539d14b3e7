import type { CommandRecord } from '../system/runner.js';
import type { StepPlan, StepStatus } from '../engine/plan.js';

/** Version of the --json output; bumped only when a field changes meaning or goes away. */
export const JSON_SCHEMA_VERSION = 1;

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
  return { command, ok: true, changed: false, dryRun: false, simulated: false, target: '', backup: null, steps: [], warnings: [], data: {}, summary: '', planShown: false, error: null, exitCode: 0, commands: [] };
}

export function stepReports(steps: StepPlan[], statuses: Map<string, StepStatus>): StepReport[] {
  return steps.map((s) => ({ id: s.id, title: s.title, status: statuses.get(s.id) ?? s.status as StepStatus, detail: s.detail, diffs: s.diffs, notes: s.notes }));
}

export function toJson(report: Report): string {
  const { summary: _summary, planShown: _planShown, ...rest } = report;
  return JSON.stringify({ schema: JSON_SCHEMA_VERSION, ...rest }, null, 2);
}

const LABEL: Record<string, string> = {
  changed: 'changed',
  unchanged: 'unchanged',
  skipped: 'skipped',
  failed: 'FAILED',
  'would-change': 'will change',
  'not-run': 'not run',
  change: 'will change',
};

export function toHuman(report: Report): string {
  const out: string[] = [];
  out.push(`kerio-dcc ${report.command}${report.dryRun ? ' (dry run: nothing is changed)' : ''} on ${report.target}${report.simulated ? ' [SIMULATED system commands]' : ''}`);
  for (const s of report.steps) {
    out.push(`  ${(LABEL[s.status] ?? s.status).padEnd(11)} ${s.title}: ${s.detail}`);
    if (report.planShown) continue;
    for (const d of s.diffs) out.push(...d.split('\n').map((l) => `      ${l}`));
    for (const n of s.notes) out.push(`      note: ${n}`);
  }
  for (const w of report.warnings) out.push(`  warning: ${w}`);
  if (report.backup) out.push(`Backup: ${report.backup}`);
  if (report.summary) out.push(report.summary);
  return out.join('\n');
}
