// The Windows tools kerio-dcc calls (sc, netsh, net, powershell, icacls, schtasks, eventcreate), as real Windows
// programs in a Wine prefix: one mingw-w64 build of standin.c copied under each tool's name,
// in place of Wine's own stubs. Each run asks this broker (a TCP server in the test process)
// for its answer; the broker answers with the same handlers as the in-process simulation
// (src/system/simulated/), on a state file of its own, so the two cannot drift apart.
// The broker logs every command line exactly as the stand-in received it.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, rename } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SimulatedRunner, type SimHost, type SimState } from '../../../src/system/simulated.js';
import { findOnPath, type WinePrefix } from './wine.js';

const SOURCE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'standin.c');
const MINGW_CC = 'x86_64-w64-mingw32-gcc';

/** The tools replaced, by where kerio-dcc looks for them (relative to C:\windows\system32). */
export const STANDIN_TOOLS = [
  'sc.exe',
  'netsh.exe',
  'net.exe',
  'icacls.exe',
  'schtasks.exe',
  'eventcreate.exe',
  'WindowsPowerShell\\v1.0\\powershell.exe',
] as const;

/** Wine runs a native copy of these instead of its built-in stubs only when told so. */
export const STANDIN_DLL_OVERRIDES = 'sc.exe,netsh.exe,net.exe,icacls.exe,schtasks.exe,eventcreate.exe,powershell.exe=n';

/** Why the stand-ins cannot be built here, or null. */
export function standinMissingReason(): string | null {
  return findOnPath(MINGW_CC) === null ? `${MINGW_CC} not found on PATH: install Debian's gcc-mingw-w64-x86-64 to build the Windows tool stand-ins` : null;
}

/** standin.exe, built once per machine into a cache keyed by the source's hash. */
export async function buildStandin(): Promise<string> {
  const source = readFileSync(SOURCE);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 12);
  const base = process.env['XDG_CACHE_HOME'] || path.join(os.homedir(), '.cache');
  const exe = path.join(base, 'kerio-dcc-tests', `standin-${hash}.exe`);
  if (existsSync(exe)) return exe;
  await mkdir(path.dirname(exe), { recursive: true });
  const temp = `${exe}.${process.pid}.tmp`;
  const built = spawnSync(MINGW_CC, ['-O2', '-s', '-Wall', '-o', temp, SOURCE, '-lws2_32', '-lshell32'], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`building the stand-in failed: ${built.stderr}`);
  await rename(temp, exe);
  return exe;
}

/** One call a stand-in received. */
export interface StandinCall {
  /** The tool's file name, lower-cased: `sc.exe`. */
  tool: string;
  /** The whole command line as the process got it (GetCommandLineW). */
  commandLine: string;
  /** As Windows split it (CommandLineToArgvW), without the program. */
  args: string[];
  exitCode: number;
}

/** Answers the stand-ins of one prefix. */
export class StandinBroker {
  readonly calls: StandinCall[] = [];
  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  /**
   * @param statePath host path of the simulated state (outside the prefix's drive, so that kerio-dcc never sees it)
   * @param initial the state when the file does not exist yet
   * @param host the prefix's drive, for the ACL tools
   */
  static async start(statePath: string, initial: () => SimState | Promise<SimState>, host: SimHost): Promise<StandinBroker> {
    const simulation = new SimulatedRunner(statePath, initial, host);
    let broker: StandinBroker | null = null;
    const server = net.createServer((socket) => {
      const chunks: Buffer[] = [];
      socket.on('data', (chunk) => {
        chunks.push(chunk);
        const fields = readFields(Buffer.concat(chunks));
        if (fields === null) return;
        socket.removeAllListeners('data');
        const [tool = '', commandLine = '', ...args] = fields;
        void simulation.answer(tool, args).then(
          (answer) => {
            broker?.calls.push({ tool: tool.toLowerCase(), commandLine, args, exitCode: answer.exitCode });
            socket.end(encodeAnswer(answer.exitCode, answer.output === 'utf8', answer.stdout, answer.stderr));
          },
          (err: Error) => socket.end(encodeAnswer(9998, false, '', `stand-in broker: ${err.message}\r\n`)),
        );
      });
      socket.on('error', () => socket.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    broker = new StandinBroker(server, (server.address() as net.AddressInfo).port);
    return broker;
  }

  /** The calls of one tool since `from` (an index into `calls`). */
  callsOf(tool: string, from = 0): StandinCall[] {
    return this.calls.slice(from).filter((c) => c.tool === tool);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The request's fields, or null while it is still arriving. */
function readFields(data: Buffer): string[] | null {
  if (data.length < 4) return null;
  const count = data.readUInt32LE(0);
  const fields: string[] = [];
  let at = 4;
  for (let i = 0; i < count; i++) {
    if (data.length < at + 4) return null;
    const len = data.readUInt32LE(at);
    if (data.length < at + 4 + len) return null;
    fields.push(data.subarray(at + 4, at + 4 + len).toString('utf8'));
    at += 4 + len;
  }
  return fields;
}

function encodeAnswer(exitCode: number, utf8: boolean, stdout: string, stderr: string): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(exitCode >>> 0, 0);
  head.writeUInt32LE(utf8 ? 1 : 0, 4);
  const field = (text: string): Buffer => {
    const bytes = Buffer.from(text, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(bytes.length, 0);
    return Buffer.concat([len, bytes]);
  };
  return Buffer.concat([head, field(stdout), field(stderr)]);
}

/**
 * The prefix's drive as the ACL tools see it: `C:\\...` paths matched case-insensitively
 * to the folders Wine made (`windows\\syswow64`), as Windows matches them. The state is kept
 * outside the prefix (`stateElsewhere`), so kerio-dcc's state folder starts empty.
 */
export function prefixHost(driveC: () => string): SimHost {
  return {
    stateElsewhere: true,
    toHost(winPath: string): string {
      let current = driveC();
      for (const part of winPath
        .replace(/^[A-Za-z]:\\?/, '')
        .split('\\')
        .filter(Boolean)) {
        let names: string[] = [];
        try {
          names = readdirSync(current);
        } catch {
          // A folder that does not exist yet: the rest of the path is taken as written.
        }
        current = path.join(current, names.find((n) => n.toLowerCase() === part.toLowerCase()) ?? part);
      }
      return current;
    },
  };
}

/** Copies the stand-in over Wine's tools in the prefix's system32. */
export async function installStandins(wine: WinePrefix, standinExe: string): Promise<void> {
  for (const tool of STANDIN_TOOLS) {
    const dest = await wine.hostPath(`C:\\windows\\system32\\${tool}`);
    await mkdir(path.dirname(dest), { recursive: true });
    await copyFile(standinExe, dest);
  }
}
