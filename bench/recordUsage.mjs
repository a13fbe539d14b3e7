// Loaded with `node --import` when GNU time is missing, and by the memory test: writes this
// process's peak RSS (KB) and CPU seconds, as GNU time's "%M %U %S" would, to BENCH_USAGE_FILE
// as it exits, so Windows and macOS get the same columns.
//
// On Linux the peak is the kernel's VmHWM for this process alone. getrusage's maxrss (what
// process.resourceUsage() reports) survives fork and exec: a CLI started by a large process
// (the test runner, at 80 MB and more) reported that process's size, not its own.
import { readFileSync, writeFileSync } from 'node:fs';

/** This process's own peak resident set in KB, or null where /proc is missing. */
function ownPeakKb() {
  try {
    const match = /^VmHWM:\s*(\d+)\s*kB$/m.exec(readFileSync('/proc/self/status', 'latin1'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

const file = process.env['BENCH_USAGE_FILE'];
if (file) {
  process.on('exit', () => {
    const usage = process.resourceUsage();
    const kb = ownPeakKb() ?? usage.maxRSS;
    writeFileSync(file, `${kb} ${usage.userCPUTime / 1e6} ${usage.systemCPUTime / 1e6}\n`);
  });
}
