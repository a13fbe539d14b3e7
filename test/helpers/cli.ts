import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildImage, DEMO_IMAGE, type Image, type ImageOptions } from '../../src/demo/image.js';
import { SIMULATED_STATE_PATH, loadSimState, plainServerState, type SimState } from '../../src/system/simulated.js';
import { Target } from '../../src/target/target.js';

export const PROJECT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(PROJECT, 'bin', 'kerio-dcc.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON when --json was given. */
  json: any;
}

/** stdout parsed as the JSON report when the run had --json (null when it was not valid JSON). */
export function jsonOutput(args: string[], stdout: string): any {
  if (!args.includes('--json')) return null;
  try {
    return JSON.parse(stdout);
  } catch {
    return null;
  }
}

/** Runs the built CLI (dist/) as an administrator's script would: a child process, no TTY, no stdin. */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
  return runNode(BIN, args, options);
}

/** Runs a Node script of the project (the CLI, the benchmark) as a child process, no TTY, no stdin. */
export function runNode(script: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      cwd: options.cwd ?? PROJECT,
      // tap's process tracker rides in NODE_OPTIONS; loaded into every CLI child it triples each run's start-up.
      env: { ...process.env, NODE_OPTIONS: '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ code: code ?? -1, stdout, stderr, json: jsonOutput(args, stdout) });
    });
  });
}

/** A fresh temp folder; removed by the test's teardown. */
export async function tempDir(t: { teardown(fn: () => unknown): void }, prefix = 'kerio-dcc-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Builds an image (the demo's by default) in a fresh temp folder. */
export async function makeImage(t: { teardown(fn: () => unknown): void }, options: Partial<ImageOptions> = {}, prefix?: string): Promise<Image> {
  const root = await tempDir(t, prefix);
  return buildImage(root, { ...DEMO_IMAGE, ...options });
}

/** sha256 of every file below a folder, by relative path: two trees are byte-identical when these are equal. */
export async function hashTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function visit(rel: string): Promise<void> {
    const entries = await readdir(path.join(dir, rel), { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const r = rel ? path.join(rel, e.name) : e.name;
      if (e.isDirectory()) {
        out[r + path.sep] = 'dir';
        await visit(r);
      } else
        out[r] = createHash('sha256')
          .update(await readFile(path.join(dir, r)))
          .digest('hex');
    }
  }
  await visit('');
  return out;
}

/** The host path of a Windows path inside an image. */
export function inImage(root: string, winPath: string): string {
  return path.join(root, ...winPath.slice(3).split('\\').filter(Boolean));
}

/** A command on an image against its simulated system, with --json: how most end-to-end tests run the tool. */
export function kerioOnImage(img: { root: string }, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runCli([...args, '--root', img.root, '--simulate', '--json'], { env });
}

/** Exit 0, with the run's own words shown when it is not. */
export function succeeded(t: { equal: (...a: any[]) => unknown }, result: CliResult, what: string): void {
  t.equal(result.code, 0, `${what} exits 0`, { error: result.json?.error ?? null, stderr: result.stderr });
}

/** A changing command run with --yes that must succeed. */
export async function kerioOk(t: { equal: (...a: any[]) => unknown }, img: { root: string }, ...args: string[]): Promise<CliResult> {
  const result = await kerioOnImage(img, [...args, '--yes']);
  succeeded(t, result, args.join(' '));
  return result;
}

/** The host path of an image's rules folder. */
export function rulesHost(img: Image): string {
  return inImage(img.root, img.rulesDir);
}

/** The image's simulated system as it stands (the plain server when no run has written it yet). */
export async function simState(img: { root: string }): Promise<SimState> {
  return (await loadSimState(inImage(img.root, SIMULATED_STATE_PATH))) ?? (await plainServerState(new Target({ root: img.root }), 'KerioMailServer'));
}
