#!/usr/bin/env node
// `npm run bench`: times kerio-dcc beside the cost of starting Node and of a plain copy of
// the same rules folder, with medians over several runs, and prints a Markdown table.
// Plain ESM with no dependencies beyond the built dist/, so it runs wherever Node does.
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, rmSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { addGeneratedRules } from './generateRules.mjs';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const CLI = path.join(REPO, 'bin', 'kerio-dcc.js');
const NODE = process.execPath;
const USAGE_PROBE = pathToFileURL(fileURLToPath(new URL('./recordUsage.mjs', import.meta.url))).href;
const MEMORY_LIMIT_MB = 100;
const TIME_RATIO_LIMIT = 2;

const USAGE = `Usage: node bench/run.mjs [--runs N] [--warmup N] [--sizes 100,1000,10000] [--dir DIR] [--keep] [--strict]

  --runs N      timed runs of each command; the table shows medians (default 5, env BENCH_RUNS)
  --warmup N    untimed runs of each command first (default 1, env BENCH_WARMUP)
  --sizes LIST  rules-folder sizes in files for the install rows (default 100,1000,10000, env BENCH_SIZES)
  --dir DIR     where the throw-away images go (default the system temp folder, env BENCH_DIR)
  --keep        leave the images in place afterwards
  --strict      exit 2 when a target is missed (the table is printed either way)

Peak RSS and CPU time come from GNU time (/usr/bin/time) when present, else from Node in the
child (BENCH_GNU_TIME=0 forces that; cp then shows n/a). Without cp on PATH the copy
baseline is a Node process that copies (fs.cpSync), start-up included.

Needs a build first (npm run build). Progress goes to stderr, the table to stdout.
Exit codes: 0 done, 1 the benchmark itself failed, 2 a target was missed (--strict only).`;

function readOptions() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: process.env['BENCH_RUNS'] ?? '5' },
      warmup: { type: 'string', default: process.env['BENCH_WARMUP'] ?? '1' },
      sizes: { type: 'string', default: process.env['BENCH_SIZES'] ?? '100,1000,10000' },
      dir: { type: 'string', default: process.env['BENCH_DIR'] ?? os.tmpdir() },
      keep: { type: 'boolean', default: false },
      strict: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const count = (name, text, min) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} takes a whole number of at least ${min}, not "${text}".`);
    return n;
  };
  return {
    runs: count('runs', values.runs, 1),
    warmup: count('warmup', values.warmup, 0),
    sizes: [
      ...new Set(
        values.sizes
          .split(',')
          .filter((s) => s.trim() !== '')
          .map((s) => count('sizes', s.trim().replace(/_/g, ''), 1)),
      ),
    ].sort((x, y) => x - y),
    dir: path.resolve(values.dir),
    keep: values.keep,
    strict: values.strict,
  };
}

function progress(message) {
  process.stderr.write(`${message}\n`);
}

function findOnPath(name) {
  const suffixes = process.platform === 'win32' ? ['.exe', ''] : [''];
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter).filter(Boolean)) {
    for (const suffix of suffixes) {
      const file = path.join(dir, name + suffix);
      try {
        accessSync(file, constants.X_OK);
        return file;
      } catch {
        // not here; keep looking
      }
    }
  }
  return null;
}

/** GNU time measures any child (cp included); BSD time has no -f/-o, so it is tried, not assumed. */
function findGnuTime(scratch) {
  const candidate = '/usr/bin/time';
  if (process.env['BENCH_GNU_TIME'] === '0' || !existsSync(candidate)) return null;
  const out = path.join(scratch, 'probe-time.txt');
  const result = spawnSync(candidate, ['-f', USAGE_FORMAT, '-o', out, NODE, '-e', '0'], { stdio: 'ignore' });
  if (result.status !== 0 || !existsSync(out)) return null;
  return readUsage(readFileSync(out, 'latin1')).kb !== null ? candidate : null;
}

/** Peak RSS in KB, then user and system CPU seconds: what GNU time and recordUsage.mjs both write. */
const USAGE_FORMAT = '%M %U %S';

/** GNU time puts "Command exited with non-zero status N" before the figures: read the last line. */
function readUsage(text) {
  const lines = text.trim().split(/\r?\n/);
  const [kb, user, system] = lines[lines.length - 1].trim().split(/\s+/).map(Number);
  return { kb: Number.isFinite(kb) ? kb : null, cpuMs: Number.isFinite(user) && Number.isFinite(system) ? (user + system) * 1000 : null };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function countFiles(dir) {
  let n = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) n += await countFiles(path.join(dir, entry.name));
    else n++;
  }
  return n;
}

async function main() {
  const opts = readOptions();
  if (!existsSync(path.join(REPO, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm run bench does).');
  const { buildImage, DEMO_IMAGE } = await import(pathToFileURL(path.join(REPO, 'dist', 'demo', 'image.js')).href);
  const { Target } = await import(pathToFileURL(path.join(REPO, 'dist', 'target', 'target.js')).href);
  const { loadAnswers } = await import(pathToFileURL(path.join(REPO, 'dist', 'answers', 'load.js')).href);
  const backupDir = (await loadAnswers(null)).answers.backup.dir;

  await mkdir(opts.dir, { recursive: true });
  const work = await mkdtemp(path.join(opts.dir, 'kerio-dcc-bench-'));
  const cleanUp = () => {
    if (!opts.keep) rmSync(work, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    cleanUp();
    process.exit(130);
  });
  try {
    const missed = await benchmark(opts, work, { buildImage, DEMO_IMAGE, Target, backupDir });
    return missed && opts.strict ? 2 : 0;
  } finally {
    cleanUp();
    if (opts.keep) progress(`images kept in ${work}`);
  }
}

async function benchmark(opts, work, dist) {
  const loadAtStart = os.loadavg();
  const gnuTime = findGnuTime(work);
  const cpProgram = findOnPath('cp');
  const usageFile = path.join(work, 'usage.txt');
  const runDir = path.join(work, 'run');
  const rulesOf = (root, image) => new dist.Target({ root }).toHost(image.rulesDir);

  /** One timed child: wall time from spawn to exit, its peak RSS in KB and CPU time (null when unknown). */
  async function timeOnce(argv, expectedCodes) {
    let program = argv[0];
    let args = argv.slice(1);
    let env = process.env;
    if (gnuTime) {
      program = gnuTime;
      args = ['-f', USAGE_FORMAT, '-o', usageFile, ...argv];
    } else if (argv[0] === NODE) {
      args = ['--import', USAGE_PROBE, ...args];
      env = { ...process.env, BENCH_USAGE_FILE: usageFile };
    }
    await rm(usageFile, { force: true });
    const started = process.hrtime.bigint();
    const child = spawn(program, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text) => {
      if (stderr.length < 8000) stderr += text;
    });
    const [code, signal] = await new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c, s) => resolve([c, s]));
    });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (!expectedCodes.includes(code)) {
      throw new Error(`${argv.join(' ')} ended with ${code ?? signal}, expected exit ${expectedCodes.join(' or ')}:\n${stderr.trim()}`);
    }
    const usage = existsSync(usageFile) ? readUsage(await readFile(usageFile, 'latin1')) : { kb: null, cpuMs: null };
    return { ms, ...usage };
  }

  /** Untimed set-up work in a child; fails loudly like a timed one. */
  function runChecked(argv) {
    const result = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`${argv.join(' ')} ended with ${result.status ?? result.signal ?? result.error}:\n${result.stderr?.trim() ?? ''}`);
  }

  // Deleting and copying thousands of files leaves the file system writing back afterwards;
  // a timed run that starts then pays for the previous one. Flushing first puts every case
  // on the same footing.
  const syncProgram = findOnPath('sync');
  const settleDisk = () => {
    if (syncProgram) runChecked([syncProgram]);
  };

  const copyTree = async (from, to) => {
    if (cpProgram) runChecked([cpProgram, '-r', from, to]);
    else await cp(from, to, { recursive: true });
  };
  // Without cp (plain Windows), the baseline is a Node process that copies: start-up and copy in one.
  const copyArgv = (from, to) =>
    cpProgram ? [cpProgram, '-r', from, to] : [NODE, '-e', 'require("node:fs").cpSync(process.argv[1], process.argv[2], { recursive: true })', from, to];
  const copyLabel = cpProgram ? '`cp -r`' : '`node -e fs.cpSync` (no cp on PATH)';

  const backupIds = async (root) => {
    const backups = new dist.Target({ root }).toHost(dist.backupDir);
    return { backups, ids: (await readdir(backups).catch(() => [])).filter((n) => /^\d{8}T\d{6}Z/.test(n)) };
  };
  /** Checks that install really did its work: a complete backup that holds every file of the rules folder. */
  const checkBackup = async (root, files) => {
    const { backups, ids } = await backupIds(root);
    if (ids.length !== 1) throw new Error(`expected one backup in ${backups}, found ${ids.length}`);
    const manifest = JSON.parse(await readFile(path.join(backups, ids[0], 'manifest.json'), 'utf8'));
    if (manifest.status !== 'complete') throw new Error(`the backup manifest says "${manifest.status}", not "complete"`);
    // The file list is files.jsonl, one line per copied file (docs/backup-format.md).
    const listed = (await readFile(path.join(backups, ids[0], 'files.jsonl'), 'utf8')).split('\n').filter(Boolean).length;
    if (listed < files) throw new Error(`the backup holds ${listed} files, but the rules folder has ${files}`);
  };

  progress(`building images in ${work} ...`);
  const images = path.join(work, 'images');
  const demoRoot = path.join(images, 'demo');
  const demo = await dist.buildImage(demoRoot, dist.DEMO_IMAGE);
  const demoFiles = await countFiles(rulesOf(demoRoot, demo));
  const installedRoot = path.join(images, 'installed');
  await dist.buildImage(installedRoot, dist.DEMO_IMAGE);
  runChecked([NODE, CLI, 'install', '--root', installedRoot, '--simulate', '--yes']);

  const sized = [];
  for (const size of opts.sizes) {
    if (size < demoFiles) throw new Error(`--sizes ${size} is smaller than the demo image's ${demoFiles} rule files.`);
    const root = path.join(images, `rules-${size}`);
    const image = await dist.buildImage(root, dist.DEMO_IMAGE);
    const bytes = await addGeneratedRules(rulesOf(root, image), size - demoFiles, size);
    const files = await countFiles(rulesOf(root, image));
    if (files !== size) throw new Error(`generated ${files} files for size ${size}`);
    sized.push({ size, root, rules: rulesOf(root, image), megabytes: bytes / 2 ** 20 });
    progress(`  rules folder of ${size.toLocaleString('en-US')} files: ${(bytes / 2 ** 20).toFixed(1)} MB`);
  }

  // Each case gets a fresh copy (when it writes) outside the timing, and is checked after.
  const installArgv = (root, extra) => [NODE, CLI, 'install', '--root', root, '--simulate', ...extra, '--yes'];
  const cases = [
    { key: 'node', label: '`node -e 0` (baseline)', argv: async () => [NODE, '-e', '0'], codes: [0] },
    { key: 'help', label: '`kerio-dcc --help`', argv: async () => [NODE, CLI, '--help'], codes: [0], against: ['node'], limit: TIME_RATIO_LIMIT },
    {
      key: 'status',
      label: '`kerio-dcc status --root R --simulate` (demo, installed)',
      argv: async () => [NODE, CLI, 'status', '--root', installedRoot, '--simulate'],
      codes: [0],
      against: ['node'],
      limit: TIME_RATIO_LIMIT,
    },
    {
      key: 'dry-run',
      label: '`kerio-dcc install --dry-run` (demo)',
      argv: async () => {
        await copyTree(demoRoot, runDir);
        return installArgv(runDir, ['--dry-run']);
      },
      check: async () => {
        if ((await backupIds(runDir)).ids.length !== 0) throw new Error('install --dry-run made a backup');
      },
      codes: [0],
      against: ['node'],
    },
    {
      key: 'copy-demo',
      label: `${copyLabel} of the demo rules folder (${demoFiles} files, baseline)`,
      argv: async () => copyArgv(rulesOf(demoRoot, demo), runDir),
      codes: [0],
    },
    {
      key: 'install-demo',
      label: `\`kerio-dcc install\` (demo, ${demoFiles} files)`,
      argv: async () => {
        await copyTree(demoRoot, runDir);
        return installArgv(runDir, []);
      },
      check: () => checkBackup(runDir, demoFiles),
      codes: [0],
      against: ['node', 'copy-demo'],
    },
  ];
  for (const s of sized) {
    const n = s.size.toLocaleString('en-US');
    cases.push({
      key: `copy-${s.size}`,
      label: `${copyLabel} of ${n} files, ${s.megabytes.toFixed(1)} MB (baseline)`,
      argv: async () => copyArgv(s.rules, runDir),
      codes: [0],
    });
    cases.push({
      key: `install-${s.size}`,
      label: `\`kerio-dcc install\`, ${n} files`,
      argv: async () => {
        await copyTree(s.root, runDir);
        return installArgv(runDir, []);
      },
      check: () => checkBackup(runDir, s.size),
      codes: [0],
      against: ['node', `copy-${s.size}`],
      // The time target is for big folders, where copying dominates; small ones show the ratio only.
      limit: s.size >= 10000 ? TIME_RATIO_LIMIT : undefined,
    });
  }
  // Without cp the copy baseline already includes a Node start-up: do not count it twice.
  if (!cpProgram) for (const c of cases) if (c.against?.length === 2) c.against = [c.against[1]];

  // Rounds run every case once, so a burst of load elsewhere spreads over all rows alike.
  const samples = new Map(cases.map((c) => [c.key, []]));
  for (let round = -opts.warmup; round < opts.runs; round++) {
    const name = round < 0 ? `warm-up ${round + opts.warmup + 1}/${opts.warmup}` : `run ${round + 1}/${opts.runs}`;
    for (const c of cases) {
      await rm(runDir, { recursive: true, force: true });
      const argv = await c.argv();
      settleDisk();
      const result = await timeOnce(argv, c.codes);
      if (c.check) await c.check();
      if (round >= 0) samples.get(c.key).push(result);
      progress(`${name}  ${c.key.padEnd(14)} ${result.ms.toFixed(0).padStart(6)} ms`);
    }
  }
  await rm(runDir, { recursive: true, force: true });

  const fmtMs = (ms) => (ms < 100 ? ms.toFixed(1) : ms.toFixed(0));
  const medianMs = (key) => median(samples.get(key).map((r) => r.ms));
  const rows = cases.map((c) => {
    const list = samples.get(c.key);
    const ms = medianMs(c.key);
    const kbs = list.map((r) => r.kb).filter((kb) => kb !== null);
    const peakMb = kbs.length === list.length ? Math.max(...kbs) / 1024 : null;
    const baseMs = c.against ? c.against.reduce((sum, key) => sum + medianMs(key), 0) : null;
    const ratio = baseMs === null ? null : ms / baseMs;
    const isTool = c.key !== 'node' && !c.key.startsWith('copy-');
    const timeOk = c.limit === undefined || ratio <= c.limit;
    const memoryOk = !isTool || peakMb === null || peakMb < MEMORY_LIMIT_MB;
    // Without cp the copy baseline is a Node process, so it too stands for "node + copy".
    const onlyNode = c.against?.length === 1 && c.against[0] === 'node';
    const target = !isTool
      ? '—'
      : [c.limit !== undefined ? `≤ ${c.limit}x ${onlyNode ? '`node -e 0`' : 'node + copy'}` : null, `< ${MEMORY_LIMIT_MB} MB`].filter(Boolean).join(', ');
    const pass = !isTool ? '—' : peakMb === null && c.limit === undefined ? 'n/a' : timeOk && memoryOk ? 'yes' : '**no**';
    const base = ratio === null ? '—' : `${ratio.toFixed(2)}x ${onlyNode ? 'node' : 'node + copy'}`;
    const cpus = list.map((r) => r.cpuMs).filter((cpu) => cpu !== null);
    const cpuMs = cpus.length === list.length ? median(cpus) : null;
    const spread = `${fmtMs(Math.min(...list.map((r) => r.ms)))}–${fmtMs(Math.max(...list.map((r) => r.ms)))}`;
    return { label: c.label, ms, base, peakMb, target, pass, spread, cpuMs, missed: isTool && !(timeOk && memoryOk) };
  });

  const lines = [
    '| command | median ms | ratio to baseline | peak RSS MB | target | pass? | min–max ms | median CPU ms |',
    '|---|---:|---:|---:|---|---|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.label} | ${fmtMs(r.ms)} | ${r.base} | ${r.peakMb === null ? 'n/a' : r.peakMb.toFixed(1)} | ${r.target} | ${r.pass} | ${r.spread} | ${r.cpuMs === null ? 'n/a' : fmtMs(r.cpuMs)} |`,
    ),
    '',
    `- ${opts.runs} timed run(s) per command after ${opts.warmup} warm-up run(s), interleaved; medians, and the highest peak RSS of the runs`,
    `  (${gnuTime ? 'GNU time `%M`' : "Node's `process.resourceUsage()` in the child; n/a for cp"}). CPU ms is user + system time of the child:`,
    `  less disturbed than wall time when other work shares the machine, but the targets are on wall time${gnuTime ? ' (GNU time counts CPU in 10 ms steps)' : ''}.`,
    `- Ratios: install on N files against the median of \`node -e 0\` plus the median ${copyLabel} of the same rules folder;`,
    '  --help, status and --dry-run against `node -e 0`. Every install run starts from a fresh copy of its image (copied outside the timing).',
    `- Machine: ${os.type()} ${os.release()} ${os.arch()}, ${os.cpus().length} x ${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GB; Node ${process.version}.`,
    process.platform === 'win32'
      ? '- Load average: not available on Windows.'
      : `- Load average (1/5/15 min): ${loadAtStart.map((l) => l.toFixed(2)).join(' ')} at the start, ${os
          .loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')} at the end.`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return rows.some((r) => r.missed);
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
