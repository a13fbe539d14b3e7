import { appendFileSync } from 'node:fs';

/**
 * The fault-injection suite's hook (test/fault-injection.test.ts), off unless the
 * environment asks for it. KERIO_DCC_FAULT=count appends every point's number and label
 * to the file KERIO_DCC_FAULT_LOG; KERIO_DCC_FAULT=<n>:throw fails point n with an I/O
 * error, <n>:kill kills the process there (as power loss or `taskkill /f` would).
 */
let reached = 0;

export function faultPoint(label: string): void {
  const spec = process.env['KERIO_DCC_FAULT'];
  if (!spec) return;
  reached++;
  if (spec === 'count') {
    const log = process.env['KERIO_DCC_FAULT_LOG'];
    if (log) appendFileSync(log, `${reached}\t${label}\n`);
    return;
  }
  const [at, mode] = spec.split(':');
  if (Number(at) !== reached) return;
  if (mode === 'kill') process.kill(process.pid, 'SIGKILL');
  throw Object.assign(new Error(`injected fault at point ${reached} (${label})`), { code: 'EIO' });
}
