import { joinWin, type Target, type WinPath } from '../target/target.js';
import type { CommandRequest } from '../system/runner.js';

/**
 * Windows PowerShell 5.1 (present on every Windows that Node 20 runs on, 8.1 / 2012 R2 and
 * later), called as `powershell.exe -EncodedCommand <base64 UTF-16LE>`: the script never
 * passes through a command-line parser, so paths with spaces, quotes and non-ASCII
 * characters arrive intact. Every script kerio-dcc runs is built here, from a kind (what it
 * does), named string parameters (bound as single-quoted literals) and a body.
 *
 * The first lines are a fixed preamble that `decodePowershell` reads back: the simulation
 * answers a script by its kind and parameters, and tests can check what was asked.
 */
export interface PowershellScript {
  /** What the script does, e.g. `get-acl`; the simulation dispatches on it. */
  kind: string;
  /** Bound as `$name = '<value>'` before the body. */
  params: Record<string, string>;
  /** PowerShell statements; output goes to stdout as UTF-8. */
  body: string;
}

const KIND_LINE = /^# kerio-dcc: ([a-z0-9-]+)$/;
const BODY_LINE = '# kerio-dcc: body';
const PARAM_LINE = /^\$([A-Za-z][A-Za-z0-9]*) = '((?:[^']|'')*)'$/;

export function powershellPath(target: Target): WinPath {
  const folder = !target.isImage && target.wow64Process ? 'Sysnative' : 'System32';
  return joinWin(target.systemRoot, folder, 'WindowsPowerShell', 'v1.0', 'powershell.exe');
}

/** A single-quoted PowerShell string literal: only `'` needs escaping, by doubling it. */
export function psLiteral(value: string): string {
  if (/[\r\n]/.test(value)) throw new Error(`internal: a PowerShell parameter cannot hold a line break: ${JSON.stringify(value)}`);
  return `'${value.replace(/'/g, "''")}'`;
}

export function scriptText(script: PowershellScript): string {
  if (!/^[a-z0-9-]+$/.test(script.kind)) throw new Error(`internal: bad PowerShell script kind ${script.kind}`);
  return [
    `# kerio-dcc: ${script.kind}`,
    ...Object.entries(script.params).map(([name, value]) => {
      if (!/^[A-Za-z][A-Za-z0-9]*$/.test(name)) throw new Error(`internal: bad PowerShell parameter name ${name}`);
      return `$${name} = ${psLiteral(value)}`;
    }),
    BODY_LINE,
    "$ErrorActionPreference = 'Stop'",
    "$ProgressPreference = 'SilentlyContinue'",
    '[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false',
    script.body,
  ].join('\n');
}

export function powershellRequest(target: Target, script: PowershellScript, options: { mutates: boolean; timeoutMs?: number }): CommandRequest {
  const encoded = Buffer.from(scriptText(script), 'utf16le').toString('base64');
  return {
    program: powershellPath(target),
    args: ['-NoLogo', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-EncodedCommand', encoded],
    mutates: options.mutates,
    output: 'utf8',
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  };
}

/** The kind and parameters of a script built by `powershellRequest`, or null for anything else. */
export function decodePowershell(args: readonly string[]): { kind: string; params: Record<string, string>; text: string } | null {
  const i = args.indexOf('-EncodedCommand');
  const encoded = i >= 0 ? args[i + 1] : undefined;
  if (encoded === undefined) return null;
  const text = Buffer.from(encoded, 'base64').toString('utf16le');
  const lines = text.split('\n');
  const kind = KIND_LINE.exec(lines[0] ?? '')?.[1];
  if (kind === undefined) return null;
  const params: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    if (line === BODY_LINE) return { kind, params, text };
    const m = PARAM_LINE.exec(line);
    if (!m) return null;
    params[m[1]!] = m[2]!.replace(/''/g, "'");
  }
  return null;
}
