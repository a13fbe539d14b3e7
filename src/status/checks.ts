import { locate, type Location } from '../detect/locate.js';
import { decideProfileDirs, type ProfileDecision } from '../detect/profileDirs.js';
import type { RunContext } from '../engine/context.js';
import { readIfExists } from '../fs/files.js';
import { activeZeroDccScoreLines } from '../patch/dccScore.js';
import { findManagedBlock, splitPronePathLines } from '../patch/localCf.js';
import { PatchConflictError } from '../patch/result.js';
import { activeDccLoadplugins } from '../patch/v310Pre.js';
import { ruleFilesMentioningDcc } from '../detect/rules.js';
import { decideDccPaths } from '../detect/dccPaths.js';
import { mapCopyProblem } from '../detect/mapCopy.js';
import { basenameWin, joinWin } from '../target/target.js';
import { planFirewallRules } from '../windows/firewall.js';
import { ServiceState, queryServiceState, stateName } from '../windows/service.js';
import { findUnfinishedRun } from '../backup/unfinished.js';

export interface Check {
  id: string;
  title: string;
  /** true: holds; false: drifted or missing; null: not checked here (e.g. no system under --root). */
  ok: boolean | null;
  detail: string;
}

const NOT_HERE = 'not checked on an image (--root); add --simulate to check the simulated system';

async function checkBlock(ctx: RunContext, location: Location, bytes: Buffer | null): Promise<Check> {
  const title = 'kerio-dcc block in local.cf';
  if (bytes === null) return { id: 'block', title, ok: false, detail: `${location.localCf} does not exist` };
  // The same decision install makes: a short name it wrote is current, never drift.
  const paths = await decideDccPaths(ctx, location);
  if (!paths.ok) return { id: 'block', title, ok: paths.unknowable ? null : false, detail: paths.message };
  try {
    const state = findManagedBlock(bytes, paths.settings);
    if (!state.present) return { id: 'block', title, ok: false, detail: 'missing (a Kerio upgrade replaces local.cf)' };
    if (!state.current) return { id: 'block', title, ok: false, detail: `present at lines ${state.beginLine}-${state.endLine}, but not what the answers say` };
    return { id: 'block', title, ok: true, detail: `present and current (lines ${state.beginLine}-${state.endLine})` };
  } catch (err) {
    if (err instanceof PatchConflictError) return { id: 'block', title, ok: false, detail: err.message };
    throw err;
  }
}

/** Any dcc_home/dcc_path in local.cf, in the block or written by hand, that dccproc would receive split apart. */
function checkSplitPaths(bytes: Buffer | null): Check {
  const title = 'no dcc_home or dcc_path that SpamAssassin would split';
  const found = bytes === null ? [] : splitPronePathLines(bytes);
  if (found.length === 0) return { id: 'split-paths', title, ok: true, detail: 'none in local.cf' };
  const said = found.map((f) => `local.cf line ${f.line}: ${f.directive} "${f.value}" has ${f.hazard} (${f.inBlock ? "in kerio-dcc's block" : 'outside kerio-dcc\'s block'})`);
  return { id: 'split-paths', title, ok: false, detail: `${said.join('; ')}. SpamAssassin on Windows puts it on dccproc's command line without quotes, where it breaks apart and DCC silently does nothing; install writes the 8.3 short name and turns such lines off` };
}

/** Only .cf files that mention DCC_CHECK are parsed; nothing is hashed. */
async function checkScores(ctx: RunContext, location: Location): Promise<Check> {
  const title = 'no active score DCC_CHECK 0';
  const found: string[] = [];
  for (const file of await ruleFilesMentioningDcc(ctx, location.rulesDir)) {
    const bytes = await readIfExists(ctx.target.toHost(file));
    if (bytes === null) continue;
    const lines = activeZeroDccScoreLines(bytes);
    if (lines.length) found.push(`${basenameWin(file)} line ${lines.join(', ')}`);
  }
  return found.length ? { id: 'scores', title, ok: false, detail: `DCC is scored zero in ${found.join('; ')}` } : { id: 'scores', title, ok: true, detail: 'none in the rules folder' };
}

async function checkPlugin(ctx: RunContext, location: Location): Promise<Check> {
  const title = 'DCC plugin loaded (v310.pre)';
  const bytes = await readIfExists(ctx.target.toHost(location.v310Pre));
  const lines = bytes === null ? [] : activeDccLoadplugins(bytes);
  if (lines.length === 0) return { id: 'plugin', title, ok: false, detail: 'the loadplugin line for DCC is missing or commented out' };
  return { id: 'plugin', title, ok: true, detail: `line ${lines.join(', ')}` };
}

async function checkMaps(ctx: RunContext, location: Location, decided: Promise<ProfileDecision>): Promise<Check> {
  const title = 'DCC map in the profile folder';
  const decision = await decided;
  const source = await readIfExists(ctx.target.toHost(location.map));
  if (source === null || source.length === 0) return { id: 'map', title, ok: false, detail: `DCC's own map ${location.map} is missing or empty` };
  const bad: string[] = [];
  for (const dir of decision.dirs) {
    const copy = await readIfExists(ctx.target.toHost(joinWin(dir, 'map')));
    const problem = mapCopyProblem(copy);
    if (problem !== null) bad.push(`${joinWin(dir, 'map')} ${problem}`);
  }
  return bad.length ? { id: 'map', title, ok: false, detail: bad.join('; ') } : { id: 'map', title, ok: true, detail: `present in ${decision.dirs.join(', ')}` };
}

async function checkFirewall(ctx: RunContext): Promise<Check> {
  const title = 'firewall rules for UDP 6277';
  if (!ctx.answers.firewall.enabled) return { id: 'firewall', title, ok: null, detail: 'firewall.enabled = false in the answers file' };
  if (!ctx.runner) return { id: 'firewall', title, ok: null, detail: NOT_HERE };
  const rules = await planFirewallRules(ctx.runner, ctx.target, ctx.answers.firewall.namePrefix);
  const wrong = rules.filter((r) => r.verdict !== 'unchanged');
  return wrong.length
    ? { id: 'firewall', title, ok: false, detail: wrong.map((r) => `"${r.wanted.name}": ${r.reason}`).join('; ') }
    : { id: 'firewall', title, ok: true, detail: rules.map((r) => `"${r.wanted.name}"`).join(' and ') + ' present and correct' };
}

async function checkService(ctx: RunContext): Promise<Check> {
  const name = ctx.answers.kerio.service;
  const title = `service ${name} running`;
  if (!ctx.runner) return { id: 'service', title, ok: null, detail: NOT_HERE };
  const state = await queryServiceState(ctx.runner, ctx.target, name);
  return state === ServiceState.running ? { id: 'service', title, ok: true, detail: 'RUNNING' } : { id: 'service', title, ok: false, detail: `${stateName(state)} (${state})` };
}

async function checkStateFolder(ctx: RunContext): Promise<Check> {
  const { inspectTrust, unsafeFolders, trustedFolders, describeUnsafe, NOT_CHECKED_ON_IMAGE } = await import('../trust/stateFolder.js');
  const title = 'only administrators can write the state folder';
  const verdict = await inspectTrust(ctx);
  if (!verdict.checked) return { id: 'state-folder', title, ok: null, detail: NOT_CHECKED_ON_IMAGE };
  const unsafe = unsafeFolders(verdict);
  if (unsafe.length) return { id: 'state-folder', title, ok: false, detail: `${unsafe.map(describeUnsafe).join('; ')}; a backup or journal planted there would be restored into Kerio's rules` };
  const absent = verdict.folders.filter((f) => !f.exists).length === verdict.folders.length;
  return { id: 'state-folder', title, ok: true, detail: absent ? `${trustedFolders(ctx).join(' and ')} do(es) not exist yet` : `${verdict.folders.map((f) => f.path).join(' and ')}: owned by Administrators or SYSTEM; only they may write` };
}

/** The profile folders and maps kerio-dcc made inherit their parents' ACLs: nobody but administrators may own or write them. */
async function checkProfileAcl(ctx: RunContext): Promise<Check> {
  const { inspectTrust, describeUnsafe, NOT_CHECKED_ON_IMAGE } = await import('../trust/stateFolder.js');
  const title = 'only administrators can write the profile folder and map';
  const verdict = await inspectTrust(ctx);
  if (!verdict.checked) return { id: 'profile-acl', title, ok: null, detail: NOT_CHECKED_ON_IMAGE };
  const bad = verdict.others.filter((v) => v.findings.length);
  if (bad.length) return { id: 'profile-acl', title, ok: false, detail: `${bad.map(describeUnsafe).join('; ')}: SpamAssassin, running as LocalSystem, reads them; remove those entries (icacls PATH /reset) or check who changed them` };
  return { id: 'profile-acl', title, ok: true, detail: verdict.others.length ? `${verdict.others.map((v) => v.path).join(', ')}: owned by Administrators or SYSTEM; only they may write` : 'none made yet' };
}

async function checkUnfinished(ctx: RunContext, trusted: boolean): Promise<Check> {
  const title = 'no interrupted run';
  if (!trusted) return { id: 'unfinished', title, ok: null, detail: 'not checked: nothing in an untrusted state folder is read' };
  const run = await findUnfinishedRun(ctx);
  if (!run) return { id: 'unfinished', title, ok: true, detail: 'the last run finished' };
  const fix = run.manifest.command === 'secure' ? 'kerio-dcc backups --secure --yes finishes it' : `kerio-dcc rollback ${run.manifest.id} --yes restores it`;
  return { id: 'unfinished', title, ok: false, detail: `${run.manifest.command} ${run.manifest.id} did not finish (interrupted or killed, or still running): ${fix}` };
}

/** Every piece DCC needs, checked without changing anything and without hashing the rules folder. */
export async function statusChecks(ctx: RunContext): Promise<{ location: Location; checks: Check[] }> {
  const location = await locate(ctx, { requireDcc: false });
  const localCf = await readIfExists(ctx.target.toHost(location.localCf));
  // The state folder, the profile folders and their maps: their ACLs are read in one call.
  // Decided once (it reads Kerio's PE header); a failure surfaces where the map check awaits it.
  const decided = decideProfileDirs(ctx, location);
  const profiles = (await decided.catch(() => null))?.dirs ?? [];
  await (await import('../trust/stateFolder.js')).inspectTrust(ctx, profiles.flatMap((d) => [d, joinWin(d, 'map')]));
  const checks = [
    await checkBlock(ctx, location, localCf),
    checkSplitPaths(localCf),
    await checkScores(ctx, location),
    await checkPlugin(ctx, location),
    await checkMaps(ctx, location, decided),
    await checkFirewall(ctx),
    await checkService(ctx),
  ];
  const stateFolder = await checkStateFolder(ctx);
  checks.push(await checkUnfinished(ctx, stateFolder.ok !== false), stateFolder, await checkProfileAcl(ctx));
  checks.push(await (await import('../managed/watchTask.js')).watchCheck(ctx));
  return { location, checks };
}
