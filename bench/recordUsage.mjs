// Loaded with `node --import` when GNU time is missing: writes this process's peak RSS (KB) and
// CPU seconds, as GNU time's "%M %U %S" would, to BENCH_USAGE_FILE as it exits, so Windows
// and macOS get the same columns.
import { writeFileSync } from 'node:fs';

const file = process.env['BENCH_USAGE_FILE'];
if (file) {
  process.on('exit', () => {
    const usage = process.resourceUsage();
    writeFileSync(file, `${usage.maxRSS} ${usage.userCPUTime / 1e6} ${usage.systemCPUTime / 1e6}\n`);
  });
}
