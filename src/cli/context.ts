import { loadAnswers } from '../answers/load.js';
import type { RunContext, RunOptions } from '../model/context.js';
import { UsageError } from '../errors.js';
import { RealDccprocRunner } from '../system/realDccprocRunner.js';
import { RecordingRunner, type CommandRunner } from '../system/runner.js';
import { SIMULATED_STATE_PATH, SimulatedRunner, plainServerState } from '../system/simulated.js';
import { Target } from '../target/target.js';
import { TOOL_VERSION } from '../version.js';
import { terminalUi } from '../ui/terminal.js';
import type { ParsedCommand } from './args.js';

/** The live system is Windows; elsewhere the tool works only on an image (--root). */
export function liveTarget(): Target {
  if (process.platform !== 'win32') {
    throw new UsageError(
      'kerio-dcc changes a Windows server, and this machine is not Windows.',
      "Run it on the Kerio server, or give --root DIR (a folder standing for the server's C:\\ drive); `kerio-dcc demo` shows it on a built-in image.",
    );
  }
  const wow64Process = process.arch === 'ia32' && Boolean(process.env['PROCESSOR_ARCHITEW6432']);
  return new Target({ root: null, wow64Process, systemRoot: process.env['SystemRoot'] ?? process.env['windir'] ?? 'C:\\Windows' });
}

export async function buildContext(parsed: ParsedCommand, overrides: Partial<RunOptions> = {}): Promise<RunContext> {
  const v = parsed.values;
  const root = typeof v['root'] === 'string' ? v['root'] : null;
  const simulate = v['simulate'] === true;
  const target = root === null ? liveTarget() : new Target({ root });
  const loaded = await loadAnswers(typeof v['answers'] === 'string' ? v['answers'] : null);
  const options: RunOptions = {
    dryRun: v['dry-run'] === true,
    yes: v['yes'] === true,
    restart: v['restart'] === true,
    simulate,
    force: v['force'] === true,
    ...overrides,
  };
  let inner: CommandRunner | null = null;
  if (simulate) {
    const service = loaded.answers.kerio.service;
    inner = new SimulatedRunner(target.toHost(SIMULATED_STATE_PATH), () => plainServerState(target, service), target);
    // A machine's own files are real: so is its dccproc.exe. Only an image gets the simulated one.
    if (root === null) inner = new RealDccprocRunner(inner, new (await import('../system/liveRunner.js')).LiveRunner(target.systemRoot));
  } else if (root === null) {
    inner = new (await import('../system/liveRunner.js')).LiveRunner(target.systemRoot);
  }
  return {
    target,
    runner: inner ? new RecordingRunner(inner, options.dryRun) : null,
    answers: loaded.answers,
    loaded,
    options,
    // --json is for scripts: they get no questions.
    ui: terminalUi({ json: v['json'] === true }),
    now: () => new Date(),
    toolVersion: TOOL_VERSION,
  };
}
