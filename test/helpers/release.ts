import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT, runNode, type CliResult } from './cli.js';
import { findOnPath } from './windows/wine.js';
import { windowsDcc, windowsDccMissing } from './realDcc.js';

export const RELEASE_SCRIPT = path.join(PROJECT, 'scripts', 'release.mjs');
export const VERSION: string = JSON.parse(readFileSync(path.join(PROJECT, 'package.json'), 'utf8')).version;

/** The release's file names for an MSI version. */
export function releaseNames(version: string): { msi: string; zip: string } {
  return { msi: `kerio-dcc-${version}-x64.msi`, zip: `kerio-dcc-${version}-win-x64.zip` };
}

/** Why `scripts/release.mjs` cannot run here (which Debian package is missing), or null. */
export function releaseToolsMissing(extra: [program: string, pkg: string][] = []): string | null {
  const tools: [string, string][] = [['wixl', 'wixl'], ['msibuild', 'msitools'], ['msiinfo', 'msitools'], ['zip', 'zip'], ...extra];
  const missing = tools.filter(([program]) => findOnPath(program) === null);
  if (missing.length === 0) return windowsDccMissing() || null;
  const packages = [...new Set(missing.map(([, pkg]) => pkg))];
  return `${missing.map(([p]) => p).join(', ')} not found on PATH: install Debian's ${packages.join(', ')} (apt-get install ${packages.join(' ')}) to build the release`;
}

/** Runs scripts/release.mjs on an exe already built, with the DCC client package the tests build; signing variables come only from `env`. */
export async function runRelease(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const clean: NodeJS.ProcessEnv = { KERIO_DCC_SIGN_PFX: undefined, KERIO_DCC_SIGN_PASSWORD: undefined, KERIO_DCC_SIGN_TIMESTAMP_URL: undefined, ...env };
  const client = await windowsDcc();
  return runNode(RELEASE_SCRIPT, ['--dcc-client', client.dir, ...args], { env: clean });
}
