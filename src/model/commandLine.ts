import type { RunContext } from './context.js';

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
