/**
 * cdcc.exe in the simulation: DCC's real cdcc, built for this machine, runs in its place
 * (named by KERIO_DCC_SIMULATED_CDCC), so a map "made on the server" is a real DCC map and
 * `info` prints what real cdcc prints. Windows paths in the arguments (`-h C:\sa\etc\dcc`)
 * are mapped into the image; other arguments are passed unchanged. Without a real cdcc the
 * simulation says so and fails: it never invents a map.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import path from 'node:path';
import { isWindowsAbsolute } from '../../target/target.js';
import type { CommandResult } from '../runner.js';

export const SIMULATED_CDCC_ENV = 'KERIO_DCC_SIMULATED_CDCC';

export function runSimulatedCdcc(args: string[], host: { toHost(p: string): string } | null): CommandResult {
  const cdcc = process.env[SIMULATED_CDCC_ENV];
  if (!cdcc) {
    return {
      exitCode: 1,
      stdout: '',
      stderr: `the simulated cdcc.exe runs DCC's real cdcc for this machine: set ${SIMULATED_CDCC_ENV} to its path\r\n`,
      timedOut: false,
    };
  }
  const mapped = args.map((a) => (host && isWindowsAbsolute(a) ? host.toHost(a) : a));
  // DCC on Unix refuses a map others may read ("is not private", clntlib/lock_open.c under
  // HAVE_PRIVATE_FILES); its Windows build has no such check, and the image's files carry this
  // machine's default mode. So the map in the home this call names gets mode 0600: its bytes are untouched.
  const home = mapped[mapped.indexOf('-h') + 1];
  if (mapped.includes('-h') && home) {
    try {
      chmodSync(path.join(home, 'map'), 0o600);
    } catch {
      // no map yet (new map makes it private itself)
    }
  }
  const r = spawnSync(cdcc, mapped, { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT')
    return { exitCode: 127, stdout: '', stderr: `${cdcc}: not found (${SIMULATED_CDCC_ENV})\r\n`, timedOut: false };
  return { exitCode: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '', timedOut: r.signal === 'SIGTERM' };
}
