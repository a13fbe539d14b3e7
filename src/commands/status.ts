import type { Report } from './report.js';
import type { RunContext } from '../engine/context.js';
import { ExitCode, KerioDccError } from '../errors.js';
import { statusChecks, type Check } from '../status/checks.js';

/** The command that puts a drifted server right, with the same target flags as this run. */
export function fixCommand(ctx: RunContext, words: string[] = ['install']): string {
  const args = ['kerio-dcc', ...words];
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
    const others = failed.some((c) => c.id !== 'state-folder');
    const hints = others ? [installFixes ? `To fix it, run: ${fixCommand(ctx)}` : 'See the details of the failed checks above.'] : [];
    // The state folder comes first: until it is safe, install refuses to run.
    if (failed.some((c) => c.id === 'state-folder')) hints.unshift(`Look at what is in the state folder, then make it safe with: ${fixCommand(ctx, ['backups', '--secure', '--yes'])}`);
    throw new KerioDccError(ExitCode.drift, `DCC is not fully on: ${failed.map((c) => c.title).join('; ')}.`, hints.join('\n'));
  }
  report.summary += '\nDCC is on.';
}

export async function runStatus(ctx: RunContext, report: Report): Promise<void> {
  const { checks, location } = await statusChecks(ctx);
  concludeChecks(ctx, report, checks, `Rules folder ${location.rulesDir}:`);
}
