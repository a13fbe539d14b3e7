import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { PROJECT } from '../cli.js';
import { findOnPath } from './wine.js';

/** kerio-dcc.exe as `npm run build:exe` makes it. */
export const EXE = path.join(PROJECT, 'dist', 'kerio-dcc.exe');

/** The newest change to what goes into the exe: sources, templates, package files. */
function newestInput(): number {
  let newest = 0;
  const visit = (p: string): void => {
    const s = statSync(p);
    if (s.isDirectory()) for (const name of readdirSync(p)) visit(path.join(p, name));
    else newest = Math.max(newest, s.mtimeMs);
  };
  for (const p of ['src', 'templates', 'package.json', 'package-lock.json', 'scripts/build-exe.mjs']) visit(path.join(PROJECT, p));
  return newest;
}

/** Builds dist/kerio-dcc.exe when it is missing or older than its sources; returns why it cannot, or null. */
export function buildExeIfNeeded(): string | null {
  if (existsSync(EXE) && statSync(EXE).mtimeMs >= newestInput()) return null;
  if (findOnPath('osslsigncode') === null) {
    return "osslsigncode not found on PATH: install Debian's osslsigncode (apt-get install osslsigncode) to build dist/kerio-dcc.exe for the Windows smoke test";
  }
  const build = spawnSync(process.execPath, [path.join(PROJECT, 'scripts', 'build-exe.mjs')], { cwd: PROJECT, stdio: ['ignore', 'inherit', 'inherit'] });
  if (build.status !== 0) throw new Error(`npm run build:exe failed (exit ${build.status}); see its output above`);
  return null;
}
