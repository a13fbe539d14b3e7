import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Location } from '../detect/locate.js';
import type { RunContext } from '../engine/context.js';
import { readIfExists } from '../fs/files.js';
import { parseText } from '../text/textFile.js';
import { joinWin } from '../target/target.js';
import { readTemplate } from '../templates.js';
import { activeDccLoadplugins } from '../patch/v310Pre.js';
import type { Check } from './checks.js';

const METRICS = /^X-DCC-([^\s:]+)-Metrics:\s*(.*)$/m;
const NO_SERVERS = /no working DCC servers/i;

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
    { id: 'bom', title: 'no byte-order mark in rule files', ok: boms.length === 0, detail: boms.length ? `${boms.join(', ')} start with a UTF-8 BOM, which breaks their first line (kerio-dcc install removes it from the files it patches)` : 'none' },
    { id: 'plugin-once', title: 'DCC plugin loaded once', ok: loads.length <= 1, detail: loads.length > 1 ? `loaded ${loads.length} times: ${loads.join('; ')}` : loads.length ? loads[0]! : 'not loaded' },
    { id: 'use-dcc', title: 'no use_dcc 0', ok: useDccOff.length === 0, detail: useDccOff.length ? `DCC is switched off at ${useDccOff.join('; ')}` : 'none' },
  ];
}

export interface SelfTestResult {
  checks: Check[];
  version: string | null;
  brand: string | null;
}

/** Runs the server's dccproc: its version, then a query-only check (-Q) of a built-in message. Never `-t many`. */
export async function dccSelfTest(ctx: RunContext, location: Location, timeoutSeconds: number): Promise<SelfTestResult> {
  const runner = ctx.runner;
  if (!runner) {
    const detail = "not run on an image (--root): the server's dccproc cannot run here; add --simulate to use the simulated one";
    return { checks: [{ id: 'dccproc', title: 'dccproc self-test', ok: null, detail }], version: null, brand: null };
  }
  const timeoutMs = timeoutSeconds * 1000;
  const checks: Check[] = [];
  const v = await runner.run({ program: location.dccproc, args: ['-V'], mutates: false, timeoutMs });
  const version = v.exitCode === 0 && !v.timedOut ? (v.stdout.trim().split(/\r?\n/)[0] ?? '') : null;
  checks.push(
    version !== null
      ? { id: 'dccproc-version', title: 'dccproc runs', ok: true, detail: `${location.dccproc}: ${version}` }
      : { id: 'dccproc-version', title: 'dccproc runs', ok: false, detail: v.timedOut ? `${location.dccproc} -V did not finish within ${timeoutSeconds} s` : `${location.dccproc} -V failed (exit ${v.exitCode}): ${(v.stderr || v.stdout).trim().slice(0, 300)}` },
  );
  if (version === null) return { checks, version, brand: null };

  const dir = await mkdtemp(path.join(os.tmpdir(), 'kerio-dcc-doctor-'));
  try {
    const message = path.join(dir, 'message.eml');
    await writeFile(message, readTemplate('doctor-message.eml'));
    const q = await runner.run({ program: location.dccproc, args: ['-h', location.dccHome, '-Q', '-C', '-x', '0', '-i', message], mutates: false, timeoutMs });
    const output = `${q.stdout}\n${q.stderr}`;
    const metrics = METRICS.exec(q.stdout);
    const title = 'DCC servers answer (query only)';
    if (q.timedOut) {
      checks.push({ id: 'dcc-query', title, ok: false, detail: `no answer within ${timeoutSeconds} s: UDP 6277 may be blocked on the way out, or the DCC servers are unreachable` });
    } else if (metrics) {
      checks.push({ id: 'dcc-query', title, ok: true, detail: `server brand ${metrics[1]}: ${metrics[2]!.trim()}` });
      return { checks, version, brand: metrics[1]! };
    } else if (NO_SERVERS.test(output)) {
      checks.push({ id: 'dcc-query', title, ok: false, detail: `dccproc says "${output.match(/no working DCC servers[^\r\n]*/i)![0].trim()}": UDP 6277 is blocked (check the Windows Firewall rules and any firewall between this server and the Internet) or the servers are unreachable` });
    } else {
      checks.push({ id: 'dcc-query', title, ok: false, detail: `no X-DCC-...-Metrics line came back (exit ${q.exitCode}): ${output.trim().slice(0, 300) || 'no output'}` });
    }
    return { checks, version, brand: null };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
