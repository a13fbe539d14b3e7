import { basenameWin, joinWin, type Target, type WinPath } from '../target/target.js';
import type { CommandRequest, CommandResult } from '../system/runner.js';

export type SystemToolName = 'sc.exe' | 'netsh.exe' | 'net.exe';

/**
 * The absolute path of a Windows system tool. A 32-bit Node on 64-bit Windows is
 * redirected to the 32-bit SysWOW64 copies when it says System32, so it must say Sysnative.
 */
export function systemTool(target: Target, name: SystemToolName): WinPath {
  const folder = !target.isImage && target.wow64Process ? 'Sysnative' : 'System32';
  return joinWin(target.systemRoot, folder, name);
}

/** A command as an administrator would type it, for messages and logs (never executed as a string). */
export function commandLine(request: CommandRequest): string {
  const quoted = request.args.map((a) => (/[\s"]/.test(a) ? `"${a.replace(/"/g, '\\"')}"` : a));
  return [basenameWin(request.program), ...quoted].join(' ');
}

/** What a tool printed, trimmed and joined, so an error message shows the (possibly localized) text as is. */
export function outputOf(result: CommandResult): string {
  return [result.stdout.trim(), result.stderr.trim()].filter(Boolean).join('\n');
}

/** One line explaining how a command ended, with its output, for error messages. */
export function describeFailure(request: CommandRequest, result: CommandResult): string {
  const how = result.timedOut ? 'timed out' : `exited with code ${result.exitCode}`;
  const output = outputOf(result);
  return `${commandLine(request)} ${how}${output ? `:\n${output}` : ' and printed nothing'}`;
}
