/**
 * `watch --run` whose answers file (the copy in the state folder) is missing or broken: no
 * context can be built from it, so the error event goes out through a target and a runner
 * made from the command line alone (the simulated system's defaults with --simulate). The
 * run log line is written as for every run (recordRun.ts), and the run exits 2.
 */
import type { UsageError } from '../errors.js';
import type { Report } from '../model/report.js';
import type { CommandRunner } from '../system/runner.js';
import { Target } from '../target/target.js';
import type { ParsedCommand } from './args.js';
import { liveTarget } from './context.js';

export async function reportBrokenAnswers(parsed: ParsedCommand, report: Report, err: UsageError): Promise<void> {
  const root = typeof parsed.values['root'] === 'string' ? parsed.values['root'] : null;
  let target: Target;
  try {
    target = root === null ? liveTarget() : new Target({ root });
  } catch {
    return;
  }
  let runner: CommandRunner | null = null;
  if (parsed.values['simulate'] === true) {
    const { SimulatedRunner, SIMULATED_STATE_PATH, plainServerState } = await import('../system/simulated.js');
    runner = new SimulatedRunner(target.toHost(SIMULATED_STATE_PATH), () => plainServerState(target, 'KerioMailServer'), target);
  } else if (root === null) {
    runner = new (await import('../system/liveRunner.js')).LiveRunner();
  }
  if (runner) await (await import('../commands/watch.js')).reportBrokenAnswers(target, runner, report, err);
}
