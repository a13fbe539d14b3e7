/**
 * An in-process stand-in for `sc.exe`, `netsh.exe`, `net.exe` and the other tools kerio-dcc
 * calls, for offline images, the demo and tests. It prints what the real tools print
 * (simulated/recordings.ts) and returns their exit codes, so the same parsing code runs
 * against it as against Windows. One module per tool in simulated/; the state (and its
 * knobs) is described in simulated/state.ts.
 */
import { basenameWin, type WinPath } from '../target/target.js';
import type { CommandRequest, CommandResult, CommandRunner } from './runner.js';
import { runPowershell } from './simulatedPowershell.js';
import { runSimulatedDccproc } from './simulatedDccproc.js';
import { runIcacls } from './simulated/acl.js';
import { runNet } from './simulated/net.js';
import { runNetsh } from './simulated/netsh.js';
import { CRLF, result, unsupported } from './simulated/output.js';
import { runSc } from './simulated/sc.js';
import { checkSimState, loadSimState, saveSimState, type SimHost, type SimState } from './simulated/state.js';

export type { SimDccproc } from './simulatedDccproc.js';
export {
  checkSimState,
  loadSimState,
  plainServerState,
  saveSimState,
  type SimAcl,
  type SimFirewallRule,
  type SimHost,
  type SimLanguage,
  type SimService,
  type SimState,
} from './simulated/state.js';

export const SIMULATED_STATE_PATH: WinPath = 'C:\\ProgramData\\kerio-dcc\\simulated-system.json';

type Handler = (state: SimState, args: string[], host: SimHost | null) => CommandResult;

export class SimulatedRunner implements CommandRunner {
  readonly simulated = true;

  /**
   * @param statePath host path of the state file (target.toHost(SIMULATED_STATE_PATH))
   * @param initialState builds the state when the file does not exist yet
   * @param host the image (or this machine) whose files the ACL tools look at
   */
  constructor(
    private readonly statePath: string,
    private readonly initialState: () => SimState | Promise<SimState>,
    private readonly host: SimHost | null = null,
  ) {}

  async run(request: CommandRequest): Promise<CommandResult> {
    const program = basenameWin(request.program).toLowerCase();
    const handler = HANDLERS[program];
    if (!handler) {
      return result(
        9009,
        '',
        `'${request.program}' is not recognized as an internal or external command, operable program or batch file.${CRLF}` +
          `(The simulated system provides only sc.exe, netsh.exe, net.exe, powershell.exe, icacls.exe and dccproc.exe.)${CRLF}`,
      );
    }
    const state = (await loadSimState(this.statePath)) ?? checkSimState(await this.initialState(), 'built by the caller');
    const before = JSON.stringify(state);
    const outcome = handler(state, request.args, this.host);
    if (JSON.stringify(state) !== before) await saveSimState(this.statePath, state);
    return outcome;
  }
}

const HANDLERS: Record<string, Handler> = {
  'sc.exe': runSc,
  'netsh.exe': runNetsh,
  'net.exe': runNet,
  'dccproc.exe': runDccproc,
  'powershell.exe': runPowershell,
  'icacls.exe': runIcacls,
};

/** DCC's client, as the real dccproc.exe answers the doctor (simulatedDccproc.ts). */
function runDccproc(state: SimState, args: string[]): CommandResult {
  return runSimulatedDccproc(state.dccproc ?? { mode: 'answers', brand: 'SimulatedDCC' }, args, () => unsupported('dccproc.exe', args));
}
