import type { Report } from '../model/report.js';
import type { RunContext } from '../model/context.js';
import { fixCommand } from '../model/commandLine.js';
import { ExitCode, KerioDccError } from '../errors.js';
import { statusChecks, type Check } from '../status/checks.js';

export function renderChecks(checks: Check[]): string {
  const label = (c: Check) => (c.ok === null ? 'skipped' : c.ok ? 'ok' : 'DRIFT');
  return checks.map((c) => `  ${label(c).padEnd(8)} ${c.title}: ${c.detail}`).join('\n');
}

/** Fails with exit 6 and the fixing command when any check does not hold; `installFixes`: the ids of the checks a (re-)install puts right. */
export function concludeChecks(ctx: RunContext, report: Report, checks: Check[], lead: string, installFixes: ReadonlySet<string> = new Set()): void {
  report.data['checks'] = checks;
  const failed = checks.filter((c) => c.ok === false);
  report.summary = `${lead}\n${renderChecks(checks)}`;
  if (failed.length) {
    const installFixable = failed.some((c) => installFixes.has(c.id));
    const others = failed.some((c) => c.id !== 'state-folder');
    const hints = others ? [installFixable ? `To fix it, run: ${fixCommand(ctx)}` : 'See the details of the failed checks above.'] : [];
    // The state folder comes first: until it is safe, install refuses to run.
    if (failed.some((c) => c.id === 'state-folder'))
      hints.unshift(`Look at what is in the state folder, then make it safe with: ${fixCommand(ctx, ['backups', '--secure', '--yes'])}`);
    throw new KerioDccError(ExitCode.drift, `DCC is not fully on: ${failed.map((c) => c.title).join('; ')}.`, hints.join('\n'));
  }
  report.summary += '\nDCC is on.';
}

export async function runStatus(ctx: RunContext, report: Report): Promise<void> {
  const { checks, location, installFixes } = await statusChecks(ctx);
  concludeChecks(ctx, report, checks, `Rules folder ${location.rulesDir}:`, installFixes);
}
