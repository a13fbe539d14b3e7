/**
 * The simulated `dccproc.exe` (DCC 1.3.158) for images (`--root --simulate`). It answers only
 * what `kerio-dcc doctor` asks, and prints what the real dccproc.exe printed for it (cross-built
 * from the unchanged upstream source and run under Wine against a real dccd; see
 * docs/dcc-build.md): CRLF lines, the version on stderr, and exit 0 even when no server answers.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { readTemplate } from '../templates.js';
import type { CommandResult } from './runner.js';

export interface SimDccproc {
  /**
   * answers: a DCC server answers; unreachable: none answers (refused, silent or blocked);
   * backoff: an earlier failure makes dccproc wait before asking again; hangs: it never returns.
   */
  mode: 'answers' | 'unreachable' | 'backoff' | 'hangs';
  brand: string;
  /** The answering server's ID (1000 when absent). */
  serverId?: number;
}

export const SIM_DCCPROC_MODES: readonly SimDccproc['mode'][] = ['answers', 'unreachable', 'backoff', 'hangs'];

const CRLF = '\r\n';
const VERSION = '1.3.158';

/**
 * What `dccproc -C` printed after the header for the doctor's message (templates/doctor-message.eml):
 * its checksums, with the server's counts when one answered. Checksums depend only on the message.
 */
function checksumTable(answered: boolean): string[] {
  const count = answered ? '       0' : '';
  return [
    `                            reported: 0               checksum${answered ? '  server' : ''}`,
    '                     From: 99ce028d 08d09a73 9c7724b7 322f1ae6',
    '               Message-ID: 34b77500 b4470051 1eda0c85 3845d2e6',
    `                     Body: 6fd1d060 9f3865ea 2b1a98f4 9cdf93aa${count}`,
    `                     Fuz1: 07020644 2187dff4 a6f07125 95d91366${count}`,
    `                     Fuz2: 2bc7b215 9092dc2b ad4a6d02 c4ff4974${count}`,
  ];
}

function result(exitCode: number, stdout: string, stderr = ''): CommandResult {
  return { exitCode, stdout, stderr, timedOut: false };
}

const out = (...lines: string[]) => lines.map((l) => `${l}${CRLF}`).join('');

export function runSimulatedDccproc(sim: SimDccproc, args: string[], unsupported: () => CommandResult): CommandResult {
  if (args.length === 1 && args[0] === '-V') return result(0, '', out(VERSION));
  // Only the doctor's query-only check of its own message is recorded; anything else is refused loudly.
  const message = args[args.indexOf('-i') + 1];
  if (!args.includes('-Q') || !args.includes('-C') || args.indexOf('-i') < 0 || !message || !sameBytes(message, readTemplate('doctor-message.eml')))
    return unsupported();
  if (sim.mode === 'hangs') return { exitCode: 1, stdout: '', stderr: '', timedOut: true };
  // The header names the machine dccproc runs on; with no answer the brand is empty and the server-ID 0.
  const host = os.hostname().split('.')[0]!;
  if (sim.mode === 'answers')
    return result(0, out(`X-DCC-${sim.brand}-Metrics: ${host} ${sim.serverId ?? 1000}; Body=0 Fuz1=0 Fuz2=0`, ...checksumTable(true)));
  const noAnswer = out(`X-DCC--Metrics: ${host} 0; Body=0 Fuz1=0 Fuz2=0`, ...checksumTable(false));
  if (sim.mode === 'backoff') return result(0, noAnswer, out('continue not asking DCC 31 seconds after 1 failures'));
  // The wording of DCC's clnt_send.c for the servers of a map that does not answer.
  return result(0, noAnswer, out('no working DCC servers dcc1.dcc-servers.net dcc2.dcc-servers.net dcc3.dcc-servers.net ... at 127.0.0.1'));
}

function sameBytes(file: string, expected: Buffer): boolean {
  try {
    return readFileSync(file).equals(expected);
  } catch {
    return false;
  }
}
