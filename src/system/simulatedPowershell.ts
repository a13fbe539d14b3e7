/**
 * The simulated `powershell.exe`: it answers only the scripts kerio-dcc builds
 * (windows/powershell.ts), by their kind and parameters, with what Windows PowerShell 5.1
 * prints for them. Each kind's answer lives in its own module, registered here.
 */
import { decodePowershell } from '../windows/powershell.js';
import type { CommandResult } from './runner.js';
import type { SimHost, SimState } from './simulated/state.js';
import { runShortPath } from './simulated/shortName.js';
import { SHORT_PATH_KIND } from '../windows/shortPath.js';
import { getAcl, newFolder, setAcl } from './simulated/acl.js';
import { runFirewallRules } from './simulated/firewall.js';
import { FIREWALL_RULES_KIND } from '../windows/firewallPowershell.js';

/** Answers one script kind; may change the state (the runner saves it when it did). */
export type PowershellHandler = (state: SimState, params: Record<string, string>, host: SimHost | null) => CommandResult;

const KINDS: Record<string, PowershellHandler> = {
  [SHORT_PATH_KIND]: runShortPath,
  'get-acl': getAcl,
  'set-acl': setAcl,
  'new-folder': newFolder,
  [FIREWALL_RULES_KIND]: runFirewallRules,
};

export function runPowershell(state: SimState, args: string[], host: SimHost | null = null): CommandResult {
  const script = decodePowershell(args);
  const handler = script ? KINDS[script.kind] : undefined;
  if (!script || !handler) {
    const what = script ? `the script kind "${script.kind}"` : `a command line without a kerio-dcc script: ${args.join(' ')}`;
    return { exitCode: 1, stdout: '', stderr: `simulated powershell.exe does not handle ${what}\r\n`, timedOut: false };
  }
  return handler(state, script.params, host);
}
