/**
 * An in-process stand-in for `sc.exe`, `netsh.exe`, `net.exe` and the other tools kerio-dcc
 * calls, for offline images, the demo and tests. It prints what the real tools print
 * (simulated/recordings.ts) and returns their exit codes, so the same parsing code runs
 * against it as against Windows. One module per tool in simulated/; the state (and its
 * knobs) is described in simulated/state.ts.
 */
import { basenameWin, type WinPath } from '../target/target.js';
import { runSimulatedCdcc } from './simulated/cdcc.js';
import type { CommandRequest, CommandResult, CommandRunner } from './runner.js';
import { runPowershell } from './simulatedPowershell.js';
import { runSimulatedDccproc } from './simulatedDccproc.js';
import { runIcacls } from './simulated/acl.js';
import { runNet } from './simulated/net.js';
import { runNetsh } from './simulated/netsh.js';
import { CRLF, result, unsupported } from './simulated/output.js';
import { runReg } from './simulated/reg.js';
import { runSc } from './simulated/sc.js';
import { checkSimState, loadSimState, saveSimState, simCodePage, type SimHost, type SimState } from './simulated/state.js';
import { codePageOnce, decodeResult, encodeText, oemCodePageRequest, type OutputEncoding, type RawResult } from './codePage.js';
import { runSchtasks } from './simulated/schtasks.js';
import { runEventcreate } from './simulated/eventcreate.js';

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

/** One tool: its answer, and what it prints in (PowerShell as kerio-dcc starts it prints UTF-8; the others the OEM code page). */
interface Tool {
  run: (state: SimState, args: string[], host: SimHost | null) => CommandResult;
  output: OutputEncoding;
}

/** A tool's answer as text, before the bytes: what the in-process runner encodes, and the Wine stand-ins print. */
export type SimAnswer = CommandResult & { output: OutputEncoding };

export class SimulatedRunner implements CommandRunner {
  readonly simulated = true;
  /** The simulated machine's code page, found as the live runner finds a real one: by asking reg.exe. */
  private readonly oemCodePage = codePageOnce(async () => this.printed(await this.answer(OEM_CODE_PAGE.program, OEM_CODE_PAGE.args)));

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

  /** Runs the tool and hands its output through the same decoder as the live runner's. */
  async run(request: CommandRequest): Promise<CommandResult> {
    const answer = await this.answer(request.program, request.args);
    return decodeResult(this.printed(answer), request.output ?? 'oem', this.oemCodePage);
  }

  /** What the tool prints and its exit code, as text; the state is read before and saved after. */
  async answer(program: string, args: string[]): Promise<SimAnswer & { codePage: number }> {
    const tool = TOOLS[basenameWin(program).toLowerCase()];
    const state = (await loadSimState(this.statePath)) ?? checkSimState(await this.initialState(), 'built by the caller');
    const codePage = simCodePage(state);
    if (!tool) {
      const text =
        `'${program}' is not recognized as an internal or external command, operable program or batch file.${CRLF}` +
        `(The simulated system provides only ${Object.keys(TOOLS).join(', ')}.)${CRLF}`;
      return { ...result(9009, '', text), output: 'oem', codePage };
    }
    const before = JSON.stringify(state);
    const outcome = tool.run(state, args, this.host);
    if (JSON.stringify(state) !== before) await saveSimState(this.statePath, state);
    return { ...outcome, output: tool.output, codePage };
  }

  /** The bytes the tool wrote: in the machine's OEM code page, or UTF-8. */
  private printed(answer: SimAnswer & { codePage: number }): RawResult {
    const codePage = answer.output === 'utf8' ? 'utf8' : answer.codePage;
    return { exitCode: answer.exitCode, stdout: encodeText(answer.stdout, codePage), stderr: encodeText(answer.stderr, codePage), timedOut: answer.timedOut };
  }
}

const OEM_CODE_PAGE = oemCodePageRequest('C:\\Windows');

const TOOLS: Record<string, Tool> = {
  'sc.exe': { run: runSc, output: 'oem' },
  'netsh.exe': { run: runNetsh, output: 'oem' },
  'net.exe': { run: runNet, output: 'oem' },
  'reg.exe': { run: runReg, output: 'oem' },
  'dccproc.exe': { run: runDccproc, output: 'oem' },
  'powershell.exe': { run: runPowershell, output: 'utf8' },
  'icacls.exe': { run: runIcacls, output: 'oem' },
  'cdcc.exe': { run: (_state, args, host) => runSimulatedCdcc(args, host), output: 'oem' },
  'schtasks.exe': { run: runSchtasks, output: 'oem' },
  'eventcreate.exe': { run: (state, args) => runEventcreate(state, args), output: 'oem' },
};

/** DCC's client, as the real dccproc.exe answers the doctor (simulatedDccproc.ts). */
function runDccproc(state: SimState, args: string[]): CommandResult {
  return runSimulatedDccproc(state.dccproc ?? { mode: 'answers', brand: 'SimulatedDCC' }, args, () => unsupported('dccproc.exe', args));
}
