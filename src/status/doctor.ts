import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Location } from '../detect/locate.js';
import type { RunContext } from '../model/context.js';
import { readIfExists } from '../fs/files.js';
import { parseText } from '../text/textFile.js';
import { joinWin } from '../target/target.js';
import { readTemplate } from '../templates.js';
import { activeDccLoadplugins } from '../patch/v310Pre.js';
import type { Check } from './checks.js';
import { clientMapCheck } from '../managed/dccClient.js';

/** The header dccproc prints: `X-DCC-BRAND-Metrics: CLIENTHOST SERVER_ID; counts`. No server answered: brand empty, ID 0. */
const METRICS = /^X-DCC-([^\s:]*)-Metrics:[ \t]*(\S+)[ \t]+(\d+);[ \t]*([^\r\n]*)/m;
/** What DCC's client prints on stderr when no server answered, or while it waits after a failure. */
const NO_ANSWER = /^.*\b(?:no DCC answer from|no working DCC server)[^\r\n]*/m;
const BACK_OFF = /^.*\bcontinue not asking DCC (\d+) seconds? after (\d+) failures?[^\r\n]*/m;
const OPEN_FAILED = /^(?:open|chdir|SetCurrentDirectory)\(([^)\r\n]*)\): ([^\r\n]*)/m;
const UDP_ADVICE =
  'DCC answers over UDP port 6277: check the Windows Firewall rules kerio-dcc manages (kerio-dcc status shows them), ' +
  'then any firewall between this server and the Internet; or the DCC servers are down';

/** Things in the rules folder that silently defeat DCC: a BOM, the plugin loaded twice, `use_dcc 0`. */
export async function rulesFolderHazards(ctx: RunContext, location: Location): Promise<Check[]> {
  const names = (await readdir(ctx.target.toHost(location.rulesDir), { withFileTypes: true }))
    .filter((e) => e.isFile() && /\.(cf|pre)$/i.test(e.name))
    .map((e) => e.name)
    .sort();
  const boms: string[] = [];
  const loads: string[] = [];
  const useDccOff: string[] = [];
  for (const name of names) {
    const bytes = await readIfExists(ctx.target.toHost(joinWin(location.rulesDir, name)));
    if (bytes === null) continue;
    if (parseText(bytes).hadBom) boms.push(name);
    loads.push(...activeDccLoadplugins(bytes).map((line) => `${name} line ${line}`));
    parseText(bytes).lines.forEach((l, i) => {
      if (/^\s*use_dcc\s+0\b/.test(l.text)) useDccOff.push(`${name} line ${i + 1}`);
    });
  }
  return [
    {
      id: 'bom',
      title: 'no byte-order mark in rule files',
      ok: boms.length === 0,
      detail: boms.length
        ? `${boms.join(', ')} start with a UTF-8 BOM, which breaks their first line (kerio-dcc install removes it from the files it patches)`
        : 'none',
    },
    {
      id: 'plugin-once',
      title: 'DCC plugin loaded once',
      ok: loads.length <= 1,
      detail: loads.length > 1 ? `loaded ${loads.length} times: ${loads.join('; ')}` : loads.length ? loads[0]! : 'not loaded',
    },
    { id: 'use-dcc', title: 'no use_dcc 0', ok: useDccOff.length === 0, detail: useDccOff.length ? `DCC is switched off at ${useDccOff.join('; ')}` : 'none' },
  ];
}

export interface SelfTestResult {
  checks: Check[];
  version: string | null;
  brand: string | null;
  /** The answering server's ID (null when none answered). */
  serverId: number | null;
}

/** Quoted output of a program, on one line, cut short. */
function quoted(text: string): string {
  const one = text.trim().replace(/\s*\r?\n\s*/g, ' | ');
  return `"${one.length > 300 ? `${one.slice(0, 300)}...` : one}"`;
}

/** Why dccproc -V gave no version: not there, not a program, or something else that is not DCC's dccproc. */
function versionProblem(dccproc: string, v: { exitCode: number; stdout: string; stderr: string; timedOut: boolean }, timeoutSeconds: number): string {
  const said = `${v.stderr}\n${v.stdout}`;
  if (v.timedOut) return `${dccproc} -V did not finish within ${timeoutSeconds} s`;
  // The live runner says why a program could not be started (spawn ... ENOENT); cmd.exe says 9009.
  if (v.exitCode === 9009 || /\bENOENT\b/.test(said)) {
    return `${dccproc} does not exist: install DCC's dccproc.exe there, or name where it is with [dcc] dccproc in the answers file`;
  }
  if (/\b(?:EACCES|EPERM|ENOEXEC|EFTYPE|UNKNOWN|EISDIR)\b|not a valid Win32 application/i.test(said)) {
    return `${dccproc} is not a program that can be run (${quoted(said)}): replace it with DCC's dccproc.exe, or name the right file with [dcc] dccproc in the answers file`;
  }
  return `${dccproc} -V printed no DCC version (exit ${v.exitCode}): ${said.trim() ? quoted(said) : 'no output'}; is it DCC's dccproc?`;
}

/** What a query-only check's output means: a server answered, none did (and why), or dccproc could not read its map. */
function queryCheck(
  q: { exitCode: number; stdout: string; stderr: string; timedOut: boolean },
  location: Location,
  timeoutSeconds: number,
): { check: Check; brand: string | null; serverId: number | null } {
  const title = 'DCC servers answer (query only)';
  const fail = (detail: string) => ({ check: { id: 'dcc-query', title, ok: false, detail }, brand: null, serverId: null });
  if (q.timedOut) return fail(`dccproc got no answer within ${timeoutSeconds} s. ${UDP_ADVICE}.`);
  const metrics = METRICS.exec(q.stdout);
  if (metrics && metrics[1] !== '' && metrics[3] !== '0') {
    const [, brand, host, id, counts] = metrics;
    return {
      check: { id: 'dcc-query', title, ok: true, detail: `server ${brand} (server-ID ${id}) answered: ${counts!.trim()} (as seen from ${host})` },
      brand: brand!,
      serverId: Number(id),
    };
  }
  const backOff = BACK_OFF.exec(q.stderr);
  if (backOff) {
    return fail(
      `dccproc did not ask the DCC servers this time: after ${backOff[2]} failed attempt(s) it waits before asking again (it says "${backOff[0].trim()}"). ` +
        `Run kerio-dcc doctor again after ${backOff[1]} s to see the servers' answer; to ask at once, reset the wait with: cdcc.exe -h "${location.dccHome}" RTT. ` +
        `If it fails again: ${UDP_ADVICE}.`,
    );
  }
  const noAnswer = NO_ANSWER.exec(q.stderr);
  if (metrics || noAnswer) {
    const said = noAnswer ? `dccproc says "${noAnswer[0].trim()}"` : `dccproc printed "${metrics![0].trim()}" (no server brand, server-ID 0)`;
    return fail(`no DCC server answered (${said}). ${UDP_ADVICE}.`);
  }
  const open = OPEN_FAILED.exec(q.stderr);
  if (open) {
    const [, file, why] = open;
    if (/denied/i.test(why!)) {
      return fail(
        `dccproc cannot read ${file} (${why!.trim()}): the DCC home folder and its map must be readable by the account that runs dccproc (for Kerio, the service's account): fix their owner or permissions`,
      );
    }
    if (/no such file|not found/i.test(why!)) {
      return fail(
        `dccproc found no ${file} (${why!.trim()}): DCC's home folder must hold its map, which lists the DCC servers to ask; copy DCC's map into ${location.dccHome} (kerio-dcc install does), or point [dcc] home at the folder that has it`,
      );
    }
    return fail(`dccproc cannot use ${file}: ${why!.trim()}`);
  }
  return fail(
    `no X-DCC-...-Metrics line came back (exit ${q.exitCode}): ${q.stdout.trim() || q.stderr.trim() ? quoted(`${q.stderr}\n${q.stdout}`) : 'no output'}`,
  );
}

/**
 * Runs the server's dccproc: its version (`-V`, printed on stderr), then a query-only check (-Q) of
 * a built-in message, which asks the DCC servers without reporting it. Never `-t`. What the real
 * dccproc prints (docs/dcc-build.md): a header `X-DCC-BRAND-Metrics: HOST ID; ...` and exit 0 even
 * when no server answers (brand empty, ID 0; the reason on stderr); `open(...map): ...` on stderr
 * and exit 0 when it cannot read its map.
 */
export async function dccSelfTest(ctx: RunContext, location: Location, timeoutSeconds: number): Promise<SelfTestResult> {
  const runner = ctx.runner;
  if (!runner) {
    const detail = "not run on an image (--root): the server's dccproc cannot run here; add --simulate to use the simulated one";
    return { checks: [{ id: 'dccproc', title: 'dccproc self-test', ok: null, detail }], version: null, brand: null, serverId: null };
  }
  const timeoutMs = timeoutSeconds * 1000;
  const checks: Check[] = [];
  const v = await runner.run({ program: location.dccproc, args: ['-V'], mutates: false, timeoutMs });
  const printed = /^\s*(\d+\.\d+\.\d+\S*)/m.exec(`${v.stderr}\n${v.stdout}`);
  const version = v.exitCode === 0 && !v.timedOut && printed ? printed[1]! : null;
  checks.push(
    version !== null
      ? { id: 'dccproc-version', title: 'dccproc runs', ok: true, detail: `${location.dccproc}: DCC ${version}` }
      : { id: 'dccproc-version', title: 'dccproc runs', ok: false, detail: versionProblem(location.dccproc, v, timeoutSeconds) },
  );
  if (version === null) return { checks, version, brand: null, serverId: null };

  const dir = await mkdtemp(path.join(os.tmpdir(), 'kerio-dcc-doctor-'));
  try {
    // Readable by all: a set-uid dccproc runs as DCC's own user. The message is no secret.
    await chmod(dir, 0o755);
    const message = path.join(dir, 'message.eml');
    await writeFile(message, readTemplate('doctor-message.eml'), { mode: 0o644 });
    const q = await runner.run({ program: location.dccproc, args: ['-h', location.dccHome, '-Q', '-C', '-x', '0', '-i', message], mutates: false, timeoutMs });
    const { check, brand, serverId } = queryCheck(q, location, timeoutSeconds);
    checks.push(check);
    // After the query: `cdcc info` asks the servers too, and a failure there would leave a back-off that hides the query's own diagnosis.
    if (ctx.answers.dcc.client === 'bundled') checks.push(await clientMapCheck(ctx, runner, location, timeoutMs));
    return { checks, version, brand, serverId };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
