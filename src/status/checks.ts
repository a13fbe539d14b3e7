import { detectFacts, type Facts } from '../detect/facts.js';
import type { Location } from '../detect/locate.js';
import type { RunContext } from '../model/context.js';
import type { Check, StepPlan } from '../model/plan.js';
import { PreconditionError } from '../errors.js';
import { localCf } from '../managed/localCf.js';
import type { Managed } from '../managed/managed.js';
import { v310Pre } from '../managed/v310Pre.js';
import { managedFor } from '../plans/install.js';
import { joinWin } from '../target/target.js';
import { ServiceState, queryServiceState, stateName } from '../windows/service.js';
import { findUnfinishedRun } from '../store/unfinished.js';

export type { Check };

const NOT_HERE = 'not checked on an image (--root); add --simulate to check the simulated system';

/**
 * The install plan, run read-only: a step that would change is drift, and its checks say
 * which part and where. A thing whose planning is refused (a missing map, broken markers)
 * fails its first check with the reason; a changing step whose checks all hold still fails
 * (the profile folders have no check of their own: a missing one shows as its map missing).
 * Returns the checks, and the ids of those a (re-)install puts right.
 */
async function installDrift(ctx: RunContext, facts: Facts): Promise<{ checks: Check[]; installFixes: Set<string> }> {
  const found = new Map<Managed, Check[]>();
  const steps: StepPlan[] = [];
  const managed = managedFor(ctx.answers);
  for (const thing of managed) {
    let planned: StepPlan;
    try {
      planned = await thing.install(ctx, facts, steps);
    } catch (err) {
      if (!(err instanceof PreconditionError) || thing.checks.length === 0) throw err;
      const [first, ...rest] = thing.checks;
      found.set(thing, [
        { ...first!, ok: false, detail: err.message },
        ...rest.map((c) => ({ ...c, ok: null, detail: `not checked: ${first!.title} could not be` })),
      ]);
      continue;
    }
    steps.push(planned);
    const checks = [...planned.checks];
    if (planned.refusal && !checks.some((c) => c.ok === false)) checks.unshift({ ...thing.checks[0]!, ok: false, detail: planned.refusal.message });
    if (thing.checks.length && planned.status === 'change' && !checks.some((c) => c.ok === false))
      checks.push({ id: planned.id, title: planned.title, ok: false, detail: `install would change it: ${planned.notes.join('; ') || planned.detail}` });
    found.set(thing, checks);
  }
  // The rules folder's files first: they are what a Kerio upgrade replaces.
  const order = [localCf, v310Pre, ...managed.filter((m) => m !== localCf && m !== v310Pre)];
  const checks = order.flatMap((m) => found.get(m) ?? []);
  return { checks, installFixes: new Set(checks.map((c) => c.id)) };
}

async function checkService(ctx: RunContext): Promise<Check> {
  const name = ctx.answers.kerio.service;
  const title = `service ${name} running`;
  if (!ctx.runner) return { id: 'service', title, ok: null, detail: NOT_HERE };
  const state = await queryServiceState(ctx.runner, ctx.target, name);
  return state === ServiceState.running
    ? { id: 'service', title, ok: true, detail: 'RUNNING' }
    : { id: 'service', title, ok: false, detail: `${stateName(state)} (${state})` };
}

async function checkStateFolder(ctx: RunContext): Promise<Check> {
  const { inspectTrust, unsafeFolders, trustedFolders, describeUnsafe, NOT_CHECKED_ON_IMAGE } = await import('../trust/stateFolder.js');
  const title = 'only administrators can write the state folder';
  const verdict = await inspectTrust(ctx);
  if (!verdict.checked) return { id: 'state-folder', title, ok: null, detail: NOT_CHECKED_ON_IMAGE };
  const unsafe = unsafeFolders(verdict);
  if (unsafe.length)
    return {
      id: 'state-folder',
      title,
      ok: false,
      detail: `${unsafe.map(describeUnsafe).join('; ')}; a backup or journal planted there would be restored into Kerio's rules`,
    };
  const absent = verdict.folders.filter((f) => !f.exists).length === verdict.folders.length;
  return {
    id: 'state-folder',
    title,
    ok: true,
    detail: absent
      ? `${trustedFolders(ctx).join(' and ')} do(es) not exist yet`
      : `${verdict.folders.map((f) => f.path).join(' and ')}: owned by Administrators or SYSTEM; only they may write`,
  };
}

/** The profile folders and maps kerio-dcc made inherit their parents' ACLs: nobody but administrators may own or write them. */
async function checkProfileAcl(ctx: RunContext): Promise<Check> {
  const { inspectTrust, describeUnsafe, NOT_CHECKED_ON_IMAGE } = await import('../trust/stateFolder.js');
  const title = 'only administrators can write the profile folder and map';
  const verdict = await inspectTrust(ctx);
  if (!verdict.checked) return { id: 'profile-acl', title, ok: null, detail: NOT_CHECKED_ON_IMAGE };
  const bad = verdict.others.filter((v) => v.findings.length);
  if (bad.length)
    return {
      id: 'profile-acl',
      title,
      ok: false,
      detail: `${bad.map(describeUnsafe).join('; ')}: SpamAssassin, running as LocalSystem, reads them; remove those entries (icacls PATH /reset) or check who changed them`,
    };
  return {
    id: 'profile-acl',
    title,
    ok: true,
    detail: verdict.others.length ? `${verdict.others.map((v) => v.path).join(', ')}: owned by Administrators or SYSTEM; only they may write` : 'none made yet',
  };
}

async function checkUnfinished(ctx: RunContext, trusted: boolean): Promise<Check> {
  const title = 'no interrupted run';
  if (!trusted) return { id: 'unfinished', title, ok: null, detail: 'not checked: nothing in an untrusted state folder is read' };
  const run = await findUnfinishedRun(ctx);
  if (!run) return { id: 'unfinished', title, ok: true, detail: 'the last run finished' };
  const fix = run.manifest.command === 'secure' ? 'kerio-dcc backups --secure --yes finishes it' : `kerio-dcc rollback ${run.manifest.id} --yes restores it`;
  return {
    id: 'unfinished',
    title,
    ok: false,
    detail: `${run.manifest.command} ${run.manifest.id} did not finish (interrupted or killed, or still running): ${fix}`,
  };
}

/** Every piece DCC needs, checked without changing anything: the install plan run read-only, and the checks only status has. */
export async function statusChecks(ctx: RunContext): Promise<{ location: Location; checks: Check[]; installFixes: Set<string> }> {
  const facts = await detectFacts(ctx, { requireDcc: false });
  // The state folder, the profile folders and their maps: their ACLs are read in one call.
  const profiles = (await facts.profile().catch(() => null))?.dirs ?? [];
  await (
    await import('../trust/stateFolder.js')
  ).inspectTrust(
    ctx,
    profiles.flatMap((d) => [d, joinWin(d, 'map')]),
  );
  const { checks, installFixes } = await installDrift(ctx, facts);
  const service = await checkService(ctx);
  installFixes.add(service.id);
  checks.push(service);
  const stateFolder = await checkStateFolder(ctx);
  checks.push(await checkUnfinished(ctx, stateFolder.ok !== false), stateFolder, await checkProfileAcl(ctx));
  checks.push(await (await import('../managed/watchTask.js')).watchCheck(ctx));
  return { location: facts.location, checks, installFixes };
}
