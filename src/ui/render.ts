import type { Report } from '../model/report.js';

/** Version of the --json output; bumped only when a field changes meaning or goes away. */
export const JSON_SCHEMA_VERSION = 1;

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
  out.push(
    `kerio-dcc ${report.command}${report.dryRun ? ' (dry run: nothing is changed)' : ''} on ${report.target}${report.simulated ? ' [SIMULATED system commands]' : ''}`,
  );
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
