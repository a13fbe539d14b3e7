import type { CommandRunner } from '../system/runner.js';
import type { Target } from '../target/target.js';
import { systemTool } from './tools.js';

/**
 * `net session` lists server sessions, which only an administrator may do: exit 0 means
 * this process is elevated. Its text is localized, so only the exit code is read.
 */
export async function isElevated(runner: CommandRunner, target: Target): Promise<boolean> {
  const result = await runner.run({ program: systemTool(target, 'net.exe'), args: ['session'], mutates: false });
  return result.exitCode === 0 && !result.timedOut;
}
