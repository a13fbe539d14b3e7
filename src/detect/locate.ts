import { PreconditionError } from '../errors.js';
import type { Planning } from '../model/context.js';
import { kindOf, sizeOf } from '../fs/files.js';
import { dirnameWin, joinWin, type WinPath } from '../target/target.js';
import { queryServiceConfig, type ServiceConfig } from '../windows/service.js';

/** Where Kerio and DCC are on the target, and how each was decided. */
export interface Location {
  installDir: WinPath;
  /** Which source decided the install folder, in words for the plan. */
  installSource: string;
  rulesDir: WinPath;
  v310Pre: WinPath;
  localCf: WinPath;
  /** The service's configuration when it could be asked (live or simulated), else null. */
  service: ServiceConfig | null;
  dccHome: WinPath;
  dccproc: WinPath;
  map: WinPath;
}

const MAILSERVER_EXE = 'mailserver.exe';

/** Install folders tried when neither the answers nor the service name one. */
export function programFilesCandidates(ctx: Planning): WinPath[] {
  const env = ctx.target.isImage ? {} : process.env;
  const folders = [env['ProgramW6432'] ?? env['ProgramFiles'] ?? 'C:\\Program Files', env['ProgramFiles(x86)'] ?? 'C:\\Program Files (x86)'];
  return [...new Set(folders)].map((f) => joinWin(f, 'Kerio', 'MailServer'));
}

async function findInstallDir(ctx: Planning, service: ServiceConfig | null): Promise<{ dir: WinPath; source: string }> {
  const { answers, target } = ctx;
  if (answers.kerio.installDir !== 'auto') {
    return { dir: answers.kerio.installDir, source: 'kerio.install_dir in the answers file' };
  }
  if (service?.binaryPath) {
    return { dir: dirnameWin(service.binaryPath), source: `the ${service.name} service's program path (sc qc)` };
  }
  const tried = programFilesCandidates(ctx);
  for (const dir of tried) {
    if (
      (await kindOf(target.toHost(joinWin(dir, MAILSERVER_EXE)))) === 'file' ||
      (await kindOf(target.toHost(joinWin(dir, 'plugins', 'spamassassin', 'rules')))) === 'dir'
    ) {
      return { dir, source: `found at ${dir}` };
    }
  }
  throw new PreconditionError(
    `Kerio Connect was not found on ${target.describe()} (looked in ${tried.join(' and ')}).`,
    'Set kerio.install_dir (or kerio.rules_dir) in the answers file.',
  );
}

async function requireNonEmptyFile(ctx: Planning, p: WinPath, what: string, key: string): Promise<void> {
  const host = ctx.target.toHost(p);
  const kind = await kindOf(host);
  if (kind !== 'file') {
    throw new PreconditionError(`${what} ${p} ${kind === null ? 'does not exist' : 'is not a file'}.`, `Unpack DCC there, or set ${key} in the answers file.`);
  }
  if ((await sizeOf(host)) === 0) throw new PreconditionError(`${what} ${p} is empty.`, `Copy a working ${what} there, or set ${key} in the answers file.`);
}

/** Finds everything the run works on; refuses, before any change, when something is missing. */
export async function locate(ctx: Planning, options: { requireDcc: boolean }): Promise<Location> {
  const location = await locateKerio(ctx);
  if (options.requireDcc) await requireDccPresent(ctx, location);
  return location;
}

/** Finds Kerio's folders (and reads where the answers put DCC); refuses when Kerio is not there. */
async function locateKerio(ctx: Planning): Promise<Location> {
  const { answers, target, runner } = ctx;
  let service: ServiceConfig | null = null;
  if (runner) {
    service = await queryServiceConfig(runner, target, answers.kerio.service);
    if (service === null) {
      throw new PreconditionError(
        `The Windows service "${answers.kerio.service}" does not exist (sc: 1060).`,
        'Is Kerio Connect installed on this server? If its service has another short name, set kerio.service in the answers file.',
      );
    }
  }
  const rulesGiven = answers.kerio.rulesDir !== 'auto';
  const install =
    rulesGiven && answers.kerio.installDir === 'auto' && !service
      ? { dir: dirnameWin(dirnameWin(dirnameWin(answers.kerio.rulesDir as WinPath))), source: 'derived from kerio.rules_dir in the answers file' }
      : await findInstallDir(ctx, service);
  const rulesDir = rulesGiven ? (answers.kerio.rulesDir as WinPath) : joinWin(install.dir, 'plugins', 'spamassassin', 'rules');
  const rulesKind = await kindOf(target.toHost(rulesDir));
  if (rulesKind === 'link') {
    throw new PreconditionError(
      `The rules folder ${rulesDir} is a link (symlink or junction); kerio-dcc does not follow links.`,
      'Set kerio.rules_dir in the answers file to the real folder.',
    );
  }
  if (rulesKind !== 'dir') {
    throw new PreconditionError(
      `SpamAssassin's rules folder ${rulesDir} was not found (install folder ${install.dir}, ${install.source}).`,
      'Set kerio.rules_dir (or kerio.install_dir) in the answers file to the right folder.',
    );
  }
  const v310Pre = joinWin(rulesDir, 'v310.pre');
  if ((await kindOf(target.toHost(v310Pre))) !== 'file') {
    throw new PreconditionError(
      `${v310Pre} was not found, so this does not look like SpamAssassin's rules folder.`,
      'Check kerio.rules_dir in the answers file; the folder must hold v310.pre.',
    );
  }
  return {
    installDir: install.dir,
    installSource: install.source,
    rulesDir,
    v310Pre,
    localCf: joinWin(rulesDir, 'local.cf'),
    service,
    ...dccLocation(answers),
  };
}

/** Where the answers say DCC is (no detection: DCC has no installer that would record it). */
export function dccLocation(answers: Planning['answers']): Pick<Location, 'dccHome' | 'dccproc' | 'map'> {
  return { dccHome: answers.dcc.home, dccproc: answers.dcc.dccproc, map: answers.dcc.map === 'auto' ? joinWin(answers.dcc.home, 'map') : answers.dcc.map };
}

/** Refuses, before anything is planned, when DCC's program, map or home folder is missing. */
export async function requireDccPresent(ctx: Planning, location: Location): Promise<void> {
  await requireNonEmptyFile(ctx, location.dccproc, 'dccproc', 'dcc.dccproc');
  await requireNonEmptyFile(ctx, location.map, "DCC's map file", 'dcc.map');
  if ((await kindOf(ctx.target.toHost(location.dccHome))) !== 'dir') {
    throw new PreconditionError(
      `DCC's home folder ${location.dccHome} does not exist (SpamAssassin requires dcc_home to be a folder).`,
      'Unpack DCC there, or set dcc.home in the answers file.',
    );
  }
}
