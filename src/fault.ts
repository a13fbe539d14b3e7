import { appendFileSync } from 'node:fs';

/**
 * The fault-injection suite's hook (test/fault-injection.test.ts), off unless the
 * environment asks for it. KERIO_DCC_FAULT=count appends every point's number and label
 * to the file KERIO_DCC_FAULT_LOG; KERIO_DCC_FAULT=<n>:throw fails point n with an I/O
 * error (EIO; <n>:ENOSPC, or any other errno name, fails it with that one), <n>:kill kills
 * the process there (as power loss or `taskkill /f` would). Several
 * faults are separated by commas (`12:throw,30:kill`: a second fault while the first is
 * being restored). With faults too, KERIO_DCC_FAULT_LOG (when set) gets every point reached.
 */
let reached = 0;

export function faultPoint(label: string): void {
  const spec = process.env['KERIO_DCC_FAULT'];
  if (!spec) return;
  reached++;
  const log = process.env['KERIO_DCC_FAULT_LOG'];
  if (log) appendFileSync(log, `${reached}\t${label}\n`);
  if (spec === 'count') return;
  for (const fault of spec.split(',')) {
    const [at, mode] = fault.split(':');
    if (Number(at) !== reached) continue;
    if (mode === 'kill') process.kill(process.pid, 'SIGKILL');
    const code = mode && /^E[A-Z]+$/.test(mode) ? mode : 'EIO';
    throw Object.assign(new Error(`injected fault at point ${reached} (${label})`), { code });
  }
}
