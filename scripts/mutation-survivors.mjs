// Helps run a set in two phases (README, Development): all mutants against the fast unit
// tests, then only their survivors against the slow CLI tests.
//   node scripts/mutation-survivors.mjs ranges FIRST.json
//     prints the survivors of a Stryker json report as --mutate ranges (comma-separated);
//   node scripts/mutation-survivors.mjs combine FIRST.json SECOND.json
//     prints the combined score (a survivor of FIRST killed in SECOND counts as killed) and
//     lists the mutants that survive both.
import { readFileSync } from 'node:fs';

const DETECTED = new Set(['Killed', 'Timeout']);
const UNDETECTED = new Set(['Survived', 'NoCoverage']);

/** Every valid mutant of a report (compile errors and ignored ones do not count). */
function mutants(reportFile) {
  const report = JSON.parse(readFileSync(reportFile, 'utf8'));
  return Object.entries(report.files).flatMap(([file, { mutants }]) =>
    mutants.filter((m) => DETECTED.has(m.status) || UNDETECTED.has(m.status)).map((m) => ({ file, ...m })),
  );
}

const key = (m) =>
  `${m.file}:${m.location.start.line}:${m.location.start.column}-${m.location.end.line}:${m.location.end.column} ${m.mutatorName} ${m.replacement ?? ''}`;

/** The report counts columns from 1, --mutate ranges from 0 (lines from 1 in both). */
const range = (m) => `${m.file}:${m.location.start.line}:${m.location.start.column - 1}-${m.location.end.line}:${m.location.end.column - 1}`;

const [command, first, second] = process.argv.slice(2);
if (command === 'ranges' && first) {
  console.log(
    [
      ...new Set(
        mutants(first)
          .filter((m) => UNDETECTED.has(m.status))
          .map(range),
      ),
    ].join(','),
  );
} else if (command === 'combine' && first && second) {
  const later = new Map(mutants(second).map((m) => [key(m), m.status]));
  const all = mutants(first);
  const left = all.filter((m) => UNDETECTED.has(m.status) && !DETECTED.has(later.get(key(m))));
  const missing = all.filter((m) => UNDETECTED.has(m.status) && !later.has(key(m)));
  if (missing.length) console.log(`warning: ${missing.length} survivors of ${first} are not in ${second}`);
  const killed = all.length - left.length;
  console.log(`${killed} of ${all.length} killed (${((100 * killed) / all.length).toFixed(1)}%)`);
  for (const m of left)
    console.log(`survived: ${m.file}:${m.location.start.line}:${m.location.start.column} ${m.mutatorName} ${JSON.stringify(m.replacement)}`);
} else {
  console.error('usage: mutation-survivors.mjs ranges FIRST.json | combine FIRST.json SECOND.json');
  process.exit(2);
}
