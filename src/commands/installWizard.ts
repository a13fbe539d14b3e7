import { writeFile } from 'node:fs/promises';
import { answersIni, setAnswer } from '../answers/load.js';
import type { Facts } from '../detect/facts.js';
import { dccLocation, locate, type Location } from '../detect/locate.js';
import { refreshAnswers, type Prompter, type RunContext } from '../model/context.js';
import { KerioDccError, PreconditionError } from '../errors.js';
import { kindOf, sizeOf } from '../fs/files.js';
import { joinWin, type WinPath } from '../target/target.js';
import { windowsText } from '../text/textFile.js';
import { queryServiceState, stateName } from '../windows/service.js';

type Need = 'dir' | 'file';

/** What a path on the target holds, in words for a prompt's validation; null when it is as needed. */
async function pathProblem(ctx: RunContext, p: string, need: Need): Promise<string | null> {
  let host: string;
  try {
    host = ctx.target.toHost(p);
  } catch (err) {
    return err instanceof KerioDccError ? err.message : String(err);
  }
  const kind = await kindOf(host);
  if (kind === null) return `${p} does not exist`;
  if (need === 'dir' && kind !== 'dir') return `${p} is not a folder`;
  if (need === 'file' && kind !== 'file') return `${p} is not a file`;
  if (need === 'file' && (await sizeOf(host)) === 0) return `${p} is empty`;
  return null;
}

/** Asks for one answer until it is valid; the value is checked both as an answer and on the target. */
async function ask(
  ctx: RunContext,
  prompter: Prompter,
  id: string,
  message: string,
  defaultValue: string,
  check: (value: string) => Promise<string | null>,
): Promise<void> {
  const value = await prompter.input(message, defaultValue, async (v) => {
    const answerProblem = setAnswerDryRun(ctx, id, v.trim());
    if (answerProblem) return answerProblem;
    return (await check(v.trim())) ?? true;
  });
  const problem = setAnswer(ctx.loaded, id, value.trim());
  if (problem) throw new Error(`internal: a validated answer was refused: ${problem}`);
  refreshAnswers(ctx);
}

/** Checks a value as setAnswer would, without keeping it. */
function setAnswerDryRun(ctx: RunContext, id: string, value: string): string | null {
  const copy = { ...ctx.loaded, given: new Set(ctx.loaded.given) };
  return setAnswer(copy, id, value);
}

const isKerioMissing = (err: unknown) => err instanceof PreconditionError && /Kerio Connect was not found|rules folder|v310\.pre/.test(err.message);

/**
 * Settles what detection cannot, by asking; answers given in --answers are never asked
 * again. Each question comes with the detected or default value and is checked on entry.
 */
export async function askWhatDetectionCannotSettle(ctx: RunContext, prompter: Prompter): Promise<Location> {
  let location: Location;
  for (;;) {
    try {
      location = await locate(ctx, { requireDcc: false });
      break;
    } catch (err) {
      if (!isKerioMissing(err) || ctx.loaded.given.has('kerio.install_dir') || ctx.loaded.given.has('kerio.rules_dir')) throw err;
      ctx.ui.say((err as Error).message);
      await ask(
        ctx,
        prompter,
        'kerio.install_dir',
        "Kerio Connect's install folder (it holds plugins\\spamassassin\\rules):",
        'C:\\Program Files\\Kerio\\MailServer',
        async (v) =>
          (await pathProblem(ctx, joinWin(v, 'plugins', 'spamassassin', 'rules', 'v310.pre'), 'file'))
            ? `${v} has no plugins\\spamassassin\\rules\\v310.pre: is this Kerio Connect's install folder?`
            : null,
      );
    }
  }
  const dcc: [string, string, Need, () => WinPath][] = [
    ['dcc.home', "DCC's home folder (holds the map file):", 'dir', () => ctx.answers.dcc.home],
    ['dcc.dccproc', 'dccproc.exe:', 'file', () => ctx.answers.dcc.dccproc],
    ['dcc.map', "DCC's map file:", 'file', () => (ctx.answers.dcc.map === 'auto' ? joinWin(ctx.answers.dcc.home, 'map') : ctx.answers.dcc.map)],
  ];
  const bundled = ctx.answers.dcc.client === 'bundled';
  for (const [id, message, need, current] of bundled ? [] : dcc) {
    if (ctx.loaded.given.has(id) || (await pathProblem(ctx, current(), need)) === null) continue;
    ctx.ui.say(`${await pathProblem(ctx, current(), need)}.`);
    await ask(ctx, prompter, id, message, current(), (v) => pathProblem(ctx, v, need));
  }
  // Kerio is where it was found; DCC is where the answers now say.
  return { ...location, ...dccLocation(ctx.answers) };
}

/** A short account of what was detected, before the plan. */
export async function detectionSummary(ctx: RunContext, facts: Facts): Promise<string> {
  const { location } = facts;
  const decision = await facts.profile();
  const lines = [
    'Detected:',
    `  Kerio Connect   ${location.installDir} (${location.installSource})`,
    `  rules folder    ${location.rulesDir}`,
    `  Kerio build     ${decision.kerioBitness === null ? 'bitness unknown' : decision.kerioBitness === 'x86' ? '32-bit' : `64-bit (${decision.kerioBitness})`}; Windows ${decision.windows64 ? '64-bit' : '32-bit'}`,
    `  profile folder  ${decision.dirs.join(', ')} (${decision.rule})`,
    ...(ctx.answers.dcc.client === 'bundled'
      ? [
          `  DCC client      bundled: dccproc ${location.dccproc}, map ${location.map} (servers: ${ctx.answers.dcc.servers.map((s) => s.split(' ')[0]).join(', ')})`,
        ]
      : [
          `  dccproc         ${location.dccproc} (${await sizeOf(ctx.target.toHost(location.dccproc))} bytes)`,
          `  DCC map         ${location.map} (${await sizeOf(ctx.target.toHost(location.map))} bytes)`,
        ]),
  ];
  if (ctx.runner) {
    const rules = await facts.firewall();
    lines.push(
      `  firewall        ${rules ? rules.map((r) => `"${r.wanted.name}": ${r.found.length} found`).join(', ') : 'not managed (firewall.enabled = false)'}`,
    );
    lines.push(
      `  service         ${ctx.answers.kerio.service}: ${stateName(await queryServiceState(ctx.runner, ctx.target, ctx.answers.kerio.service))}${ctx.runner.simulated ? ' (simulated)' : ''}`,
    );
  }
  return lines.join('\n');
}

/** Writes the answers used (given or asked) to a file that replays the same run with --yes. */
export async function saveAnswers(ctx: RunContext, file: string): Promise<void> {
  await writeFile(file, windowsText(Buffer.from(answersIni(ctx.loaded), 'utf8')));
}
