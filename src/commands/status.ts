import type { Report } from '../cli/report.js';
import type { RunContext } from '../engine/context.js';
import { ExitCode, KerioDccError } from '../errors.js';
import { statusChecks, type Check } from '../status/checks.js';

/** The command that puts a drifted server right, with the same target flags as this run. */
export function fixCommand(ctx: RunContext): string {
  const args = ['kerio-dcc', 'install'];
  if (ctx.loaded.file) args.push('--answers', quoteArg(ctx.loaded.file));
  if (ctx.target.root) args.push('--root', quoteArg(ctx.target.root));
  if (ctx.options.simulate) args.push('--simulate');
  return args.join(' ');
}

/** Quoted for the shell the administrator pastes into: cmd.exe on Windows, a POSIX shell elsewhere. */
function quoteArg(s: string): string {
  if (/^[\w@%+=:,./\\-]+$/.test(s)) return s;
  return process.platform === 'win32' ? `"${s}"` : `'${s.replace(/'/g, `'\\''`)}'`;
}

export function renderChecks(checks: Check[]): string {
  const label = (c: Check) => (c.ok === null ? 'skipped' : c.ok ? 'ok' : 'DRIFT');
  return checks.map((c) => `  ${label(c).padEnd(8)} ${c.title}: ${c.detail}`).join('\n');
}

/** Checks that a (re-)install puts right. */
const INSTALL_FIXES = new Set(['block', 'split-paths', 'scores', 'plugin', 'map', 'firewall', 'service']);

/** Fails with exit 6 and the fixing command when any check does not hold. */
export function concludeChecks(ctx: RunContext, report: Report, checks: Check[], lead: string): void {
  report.data['checks'] = checks;
  const failed = checks.filter((c) => c.ok === false);
  report.summary = `${lead}\n${renderChecks(checks)}`;
  if (failed.length) {
    const installFixes = failed.some((c) => INSTALL_FIXES.has(c.id));
    throw new KerioDccError(ExitCode.drift, `DCC is not fully on: ${failed.map((c) => c.title).join('; ')}.`, installFixes ? `To fix it, run: ${fixCommand(ctx)}` : 'See the details of the failed checks above.');
  }
  report.summary += '\nDCC is on.';
}

export async function runStatus(ctx: RunContext, report: Report): Promise<void> {
  const { checks, location } = await statusChecks(ctx);
  concludeChecks(ctx, report, checks, `Rules folder ${location.rulesDir}:`);
}
