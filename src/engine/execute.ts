import { mkdir, rmdir, unlink } from 'node:fs/promises';
import { errnoCode } from '../errors.js';
import { faultPoint } from '../fault.js';
import { atomicWrite, retryWhileLocked } from '../fs/atomicWrite.js';
import { createFolderWithAcl } from '../windows/acl.js';
import { runFirewallChange } from '../windows/firewall.js';
import { restartService, stateName } from '../windows/service.js';
import { describeFailure } from '../windows/tools.js';
import type { RunContext } from '../model/context.js';
import type { Action } from '../model/plan.js';

function requireRunner(ctx: RunContext) {
  if (!ctx.runner) throw new Error('internal: a system command was planned, but no system is available');
  return ctx.runner;
}

/** Carries out one planned action. The only code that changes the target. */
export async function execute(ctx: RunContext, action: Action, interrupted: () => boolean = () => false): Promise<void> {
  faultPoint(
    `${action.kind} ${'path' in action ? action.path : action.kind === 'firewall' ? action.ruleName : action.kind === 'task' ? action.taskName : action.service}`,
  );
  if (action.kind === 'secureFolder' || action.kind === 'setAcl') {
    await (await import('../managed/stateFolderAcl.js')).executeAclAction(ctx, action);
    return;
  }
  switch (action.kind) {
    case 'mkdir':
      if (action.acl && ctx.runner) {
        await createFolderWithAcl(ctx.runner, ctx.target, action.path, action.acl);
        return;
      }
      await mkdir(ctx.target.toHost(action.path)).catch((err) => {
        if (errnoCode(err) !== 'EEXIST') throw err;
      });
      return;
    case 'writeFile':
      await atomicWrite(ctx.target.toHost(action.path), action.content);
      return;
    case 'deleteFile': {
      const host = ctx.target.toHost(action.path);
      await retryWhileLocked(host, () => unlink(host)).catch((err) => {
        if (errnoCode(err) !== 'ENOENT') throw err;
      });
      return;
    }
    case 'removeEmptyDir':
      await rmdir(ctx.target.toHost(action.path)).catch((err) => {
        const code = errnoCode(err);
        if (code === 'ENOTEMPTY' || code === 'EEXIST') ctx.ui.warn(`${action.path} was left in place: it is not empty`);
        else if (code !== 'ENOENT') throw err;
      });
      return;
    case 'firewall':
      await runFirewallChange(requireRunner(ctx), action.request);
      return;
    case 'task': {
      const result = await requireRunner(ctx).run(action.request);
      if (result.exitCode !== 0 || result.timedOut) throw new Error(describeFailure(action.request, result));
      return;
    }
    case 'restartService': {
      const started = Date.now();
      const progress = ctx.ui.progress;
      await restartService(requireRunner(ctx), ctx.target, action.service, {
        timeoutMs: action.timeoutSeconds * 1000,
        shouldStop: interrupted,
        onProgress: progress ? (elapsed, state) => progress(`waiting for ${action.service}: ${stateName(state)} after ${elapsed} s`) : undefined,
      });
      if (progress) progress('');
      ctx.ui.info(`${action.service} restarted in ${Math.round((Date.now() - started) / 1000)} s`);
      return;
    }
  }
}
