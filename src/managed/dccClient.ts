/**
 * The bundled DCC client (`[dcc] client = bundled`): the dccproc.exe and cdcc.exe kerio-dcc ships
 * in its `dcc` folder (built from DCC's unchanged source by scripts/dcc-client.mjs), copied into
 * dccproc's folder, the DCC home created, and the home's map made by the real cdcc.exe from
 * `[dcc] servers`. Each is planned here as a StepPlan; apply, backup and rollback treat them
 * like every other step: a rollback removes exactly the programs, map and folders the run added.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Answers } from '../answers/answers.js';
import type { Location } from '../detect/locate.js';
import type { Planning, RunContext } from '../model/context.js';
import { step, type Action, type Check, type DccLicenseDecision, type StepPlan } from '../model/plan.js';
import { PreconditionError, UsageError } from '../errors.js';
import { kindOf, readIfExists, sha256 } from '../fs/files.js';
import { missingFolders } from './profileFolders.js';
import { refuseLink } from './textEdit.js';
import { SAFE_FOLDER_SDDL } from '../windows/acl.js';
import type { Managed } from './managed.js';
import { dirnameWin, joinWin, type WinPath } from '../target/target.js';
import type { CommandRunner } from '../system/runner.js';

/** Overrides where the client package is (tests, and a development checkout that has no `dcc` folder beside node). */
export const CLIENT_DIR_ENV = 'KERIO_DCC_CLIENT_DIR';

/** The client package as it ships: a folder on the machine kerio-dcc runs on. */
export interface ClientBundle {
  /** Host path of the folder. */
  dir: string;
  dccproc: Buffer;
  cdcc: Buffer;
  /** Host path of its cdcc.exe: run to make the map. */
  cdccPath: string;
  license: string;
}

/** Where kerio-dcc looks for the client package: `KERIO_DCC_CLIENT_DIR`, else the `dcc` folder beside kerio-dcc.exe. */
export function clientBundleDir(): string {
  const given = process.env[CLIENT_DIR_ENV];
  return given ? path.resolve(given) : path.join(path.dirname(process.execPath), 'dcc');
}

/** Reads the client package; a missing or incomplete one stops the run before any change (exit 3). */
export async function readClientBundle(): Promise<ClientBundle> {
  const dir = clientBundleDir();
  const read = async (name: string) => {
    const bytes = await readIfExists(path.join(dir, name));
    if (bytes === null || bytes.length === 0) {
      throw new PreconditionError(
        `The DCC client that kerio-dcc ships is not complete: ${path.join(dir, name)} is missing.`,
        `Reinstall kerio-dcc from its MSI or zip (they hold the dcc folder), or use your own DCC client with [dcc] client = existing. Nothing was changed.`,
      );
    }
    return bytes;
  };
  const [dccproc, cdcc, license] = [await read('dccproc.exe'), await read('cdcc.exe'), await read('LICENSE')];
  return { dir, dccproc, cdcc, cdccPath: path.join(dir, 'cdcc.exe'), license: license.toString('utf8') };
}

/** Where cdcc.exe goes: beside dccproc (SpamAssassin starts cdcc from dcc_path's folder). */
export function cdccPathOf(answers: Answers): WinPath {
  return joinWin(dirnameWin(answers.dcc.dccproc), 'cdcc.exe');
}

/** The licence's first paragraph decides who may use DCC for free: the administrator decides, here. */
export async function decideLicense(ctx: RunContext, bundle: ClientBundle): Promise<DccLicenseDecision> {
  const hash = sha256(Buffer.from(bundle.license, 'utf8'));
  if (ctx.answers.dcc.acceptLicense) return { accepted: true, how: 'answers', sha256: hash };
  const prompter = ctx.options.yes ? null : ctx.ui.prompter;
  if (!prompter) {
    throw new UsageError(
      `[dcc] client = bundled installs DCC, whose licence is free only for some uses, and [dcc] accept_license is not yes.`,
      `Read DCC's licence (${path.join(bundle.dir, 'LICENSE')}); if it allows your use, set accept_license = yes under [dcc] in the answers file. Nothing was changed.`,
    );
  }
  ctx.ui.say(`\nDCC's licence (${path.join(bundle.dir, 'LICENSE')}):\n\n${bundle.license.trimEnd()}\n`);
  if (!(await prompter.confirm("Does DCC's licence allow your use, and do you accept it?", false))) {
    throw new UsageError(
      "DCC's licence was not accepted, so the bundled DCC client is not installed.",
      'Nothing was changed. Use your own DCC client with [dcc] client = existing, or accept the licence.',
    );
  }
  return { accepted: true, how: 'prompt', sha256: hash };
}

/** The folders to create (outermost first, each once) and the programs to copy. */
async function planClientPrograms(ctx: Planning, location: Location, bundle: ClientBundle): Promise<StepPlan> {
  const actions: Action[] = [];
  const made: WinPath[] = [];
  for (const dir of [dirnameWin(location.dccproc), location.dccHome]) {
    for (const folder of await missingFolders(ctx, dir)) {
      if (made.some((m) => m.toLowerCase() === folder.toLowerCase())) continue;
      // dccproc.exe runs as LocalSystem: the outermost new folder is made writable by Administrators and SYSTEM only, and what is inside inherits that.
      actions.push(made.length === 0 ? { kind: 'mkdir', path: folder, acl: SAFE_FOLDER_SDDL } : { kind: 'mkdir', path: folder });
      made.push(folder);
    }
  }
  const notes: string[] = [];
  const copied: WinPath[] = [];
  const drift: string[] = made.length ? [`${made[0]} is missing`] : [];
  let refusal: StepPlan['refusal'];
  for (const [dest, bytes] of [
    [location.dccproc, bundle.dccproc],
    [cdccPathOf(ctx.answers), bundle.cdcc],
  ] as const) {
    await refuseLink(ctx, dest);
    const current = await readIfExists(ctx.target.toHost(dest));
    if (current !== null && current.equals(bytes)) continue;
    if (current !== null && !ctx.options.force) {
      refusal ??= {
        message: `${dest} exists and is not the DCC client kerio-dcc ships.`,
        hint: 'To keep using it, set [dcc] client = existing; to replace it with the bundled one (it is backed up first), run again with --force. Nothing was changed.',
      };
      drift.push(`${dest} is not the bundled program`);
      continue;
    }
    drift.push(current === null ? `${dest} is missing` : `${dest} is not the bundled program`);
    if (current !== null) notes.push(`${dest} is replaced (--force); it is backed up first`);
    actions.push({ kind: 'writeFile', path: dest, content: bytes });
    copied.push(dest);
  }
  return step('dcc-client', 'DCC client (bundled)', {
    status: actions.length ? 'change' : 'unchanged',
    detail: actions.length
      ? [made.length ? `create ${made.join(', ')}` : '', copied.length ? `copy ${copied.join(', ')} from ${bundle.dir}` : ''].filter(Boolean).join('; ')
      : `${location.dccproc} and ${cdccPathOf(ctx.answers)} are the bundled DCC client`,
    notes,
    actions,
    checks: [
      {
        ...CLIENT,
        ok: drift.length === 0,
        detail: drift.length ? drift.join('; ') : `${location.dccproc} and ${cdccPathOf(ctx.answers)} are the bundled DCC client`,
      },
    ],
    ...(refusal ? { refusal } : {}),
  });
}

/** The arguments that make a new map in `home` listing exactly `servers` (cdcc(8): new map, add). */
export function newMapArgs(home: string, servers: string[]): string[] {
  // IPv6 off first: cdcc then probes nothing of its own, and the map asks over IPv4 (UDP 6277 as the firewall rules open).
  return ['-h', home, 'new map', 'IPv6 off', ...servers.map((s) => `add ${s}`)];
}

/** Makes a map with the real cdcc in a scratch folder on this machine, and returns its bytes. */
async function makeMap(runner: CommandRunner, cdcc: string, servers: string[]): Promise<Buffer> {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'kerio-dcc-map-'));
  try {
    // Writes only the scratch folder, never the server: allowed in a dry run.
    const r = await runner.run({ program: cdcc, args: newMapArgs(scratch, servers), mutates: false, timeoutMs: 60_000 });
    const map = await readIfExists(path.join(scratch, 'map'));
    if (r.exitCode !== 0 || map === null || map.length === 0) {
      const said = `${r.stdout}${r.stderr}`.trim();
      throw new PreconditionError(
        `${cdcc} could not make DCC's map (exit ${r.exitCode})${said ? `: ${said}` : ''}.`,
        'Check the entries of [dcc] servers in the answers file. Nothing was changed.',
      );
    }
    return map;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * The DCC home's map. One that is there is kept (an administrator's map is never overwritten
 * without --force); a new one is made by the real cdcc. Returns the map's bytes as they will
 * be, for the profile copies.
 */
async function planClientMap(ctx: Planning, location: Location, bundle: ClientBundle): Promise<StepPlan> {
  await refuseLink(ctx, location.map);
  const current = await readIfExists(ctx.target.toHost(location.map));
  if (current !== null && current.length > 0 && !ctx.options.force) {
    return step('dcc-map', MAP_TITLE, {
      status: 'unchanged',
      detail: `${location.map} is there and is kept (--force makes a new one from [dcc] servers)`,
      checks: [{ ...MAP, ok: true, detail: `${location.map} is there` }],
    });
  }
  const missing = { ...MAP, ok: false, detail: `${location.map} ${current === null ? 'is missing' : 'is empty'}` };
  if ((await kindOf(ctx.target.toHost(location.map))) === 'dir') {
    return step('dcc-map', MAP_TITLE, {
      status: 'skipped',
      detail: `${location.map} is a folder`,
      checks: [missing],
      refusal: { message: `${location.map} is a folder, where DCC's map should be.`, hint: 'Move it away. Nothing was changed.' },
    });
  }
  if (!ctx.runner) {
    const refusal = {
      message: 'Making the DCC map needs cdcc.exe to run, and on an image (--root) no program runs.',
      hint: 'Add --simulate, or use [dcc] client = existing with a map in the image. Nothing was changed.',
    };
    return step('dcc-map', MAP_TITLE, { status: 'skipped', detail: refusal.message, checks: [missing], refusal });
  }
  const map = await makeMap(ctx.runner, bundle.cdccPath, ctx.answers.dcc.servers);
  const servers = ctx.answers.dcc.servers.map((s) => s.split(' ')[0]).join(', ');
  return step('dcc-map', MAP_TITLE, {
    status: 'change',
    detail: `${current === null ? 'create' : 'replace (--force)'} ${location.map}, made by cdcc.exe, listing ${servers}`,
    actions: [{ kind: 'writeFile', path: location.map, content: map, keepsState: true }],
    serviceReads: true,
    checks: [missing],
  });
}

/** The map an earlier step of this plan writes (the bundled client's, not on disk yet), for the profile copies. */
export function plannedMap(earlier: StepPlan[], map: WinPath): Buffer | null {
  for (const s of earlier) {
    for (const a of s.actions) if (a.kind === 'writeFile' && a.path === map) return a.content;
  }
  return null;
}

const CLIENT = { id: 'dcc-client', title: 'bundled DCC client' };
const MAP = { id: 'dcc-map', title: "bundled DCC client's map" };
const CLIENT_TITLE = 'DCC client (bundled)';
const MAP_TITLE = "DCC client's map";

/** `[dcc] client = bundled` (plans/install.ts lists it then): the programs in dccproc's folder and the folders for them and the home. */
export const dccClient: Managed = {
  checks: [CLIENT],
  install: async (ctx, facts) => planClientPrograms(ctx, facts.location, await readClientBundle()),
  remove: (ctx, facts) => planClientRemoval(ctx, facts.location),
};

/** `[dcc] client = bundled` (plans/install.ts lists it then): the DCC home's map, made by the real cdcc from [dcc] servers. Uninstall leaves it (it may hold the administrator's settings). */
export const dccMap: Managed = {
  checks: [MAP],
  install: async (ctx, facts) => planClientMap(ctx, facts.location, await readClientBundle()),
};

/** Uninstall: the bundled programs, where they are byte for byte the ones kerio-dcc ships. The map and home are left (they may hold the administrator's own settings); rollback removes them. */
async function planClientRemoval(ctx: Planning, location: Location): Promise<StepPlan> {
  const title = CLIENT_TITLE;
  const bundle = await readClientBundle();
  const actions: Action[] = [];
  for (const [p, bytes] of [
    [location.dccproc, bundle.dccproc],
    [cdccPathOf(ctx.answers), bundle.cdcc],
  ] as const) {
    const current = await readIfExists(ctx.target.toHost(p));
    if (current !== null && current.equals(bytes)) actions.push({ kind: 'deleteFile', path: p });
  }
  return step('dcc-client', title, {
    status: actions.length ? 'change' : 'unchanged',
    detail: actions.length ? `remove ${actions.map((a) => ('path' in a ? a.path : '')).join(', ')}` : 'no bundled DCC program to remove',
    notes: [`${location.map} and ${location.dccHome} are left in place (rollback of the install run removes them)`],
    actions,
  });
}

/** A map entry's server as `cdcc info` names it: host,port, with "-" for DCC's port. */
function serverKey(entry: string): string {
  const [host, port] = entry.split(' ')[0]!.split(',');
  return `${host!.toLowerCase()},${port === undefined || port === '6277' ? '-' : port}`;
}

/** The servers `cdcc info` lists: each entry line starts with host,port (comments and settings aside). */
export function infoServers(info: string): string[] {
  return info
    .split(/\r?\n/)
    .filter((l) => /^[A-Za-z0-9][A-Za-z0-9.:-]*,(\d+|-)\s/.test(l))
    .map(serverKey);
}

/**
 * doctor, client = bundled: the bundled cdcc.exe reads the DCC home's map (`cdcc -h HOME info`,
 * which changes nothing), and the map must list exactly the servers of [dcc] servers.
 */
export async function clientMapCheck(ctx: Planning, runner: CommandRunner, location: Location, timeoutMs: number): Promise<Check> {
  const cdcc = cdccPathOf(ctx.answers);
  const title = "bundled DCC client's map";
  const r = await runner.run({ program: cdcc, args: ['-h', location.dccHome, 'info'], mutates: false, timeoutMs });
  const listed = infoServers(r.stdout);
  if (r.exitCode !== 0 || r.timedOut || listed.length === 0) {
    const said = `${r.stderr}${r.stdout}`.trim().split(/\r?\n/).slice(0, 3).join(' ');
    return {
      id: 'dcc-client-map',
      title,
      ok: false,
      detail: `${cdcc} -h ${location.dccHome} info could not read the map (exit ${r.exitCode}${said ? `: ${said}` : ''}): run kerio-dcc install (with --force to make the map again)`,
    };
  }
  const wanted = ctx.answers.dcc.servers.map(serverKey);
  const same = listed.length === wanted.length && wanted.every((w) => listed.includes(w));
  return same
    ? { id: 'dcc-client-map', title, ok: true, detail: `${location.map} lists the ${wanted.length} server(s) of [dcc] servers (read by ${cdcc})` }
    : {
        id: 'dcc-client-map',
        title,
        ok: false,
        detail: `${location.map} lists ${listed.join(' ')}, but [dcc] servers lists ${wanted.join(' ')}: kerio-dcc install --force makes the map again from [dcc] servers`,
      };
}
