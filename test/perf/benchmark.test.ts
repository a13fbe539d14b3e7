// Slow checks of the performance promises, run by `npm run test:perf` (and .ci/run), not by
// `npm test`: the benchmark's own smoke run and the 10,000-file memory test take about a
// minute on a 2-core machine and measure nothing a unit change can break in between.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import t, { type Test as Tap } from 'tap';
// @ts-expect-error: the benchmark's generator is plain JavaScript, without types
import { addGeneratedRules } from '../../bench/generateRules.mjs';
import { BIN, PROJECT, makeImage, rulesHost, runNode, succeeded, tempDir, type CliResult } from '../helpers/cli.js';

t.test('npm run bench prints its table, with every command beside its baseline', async (t) => {
  const dir = await tempDir(t);
  const result = await runNode(path.join(PROJECT, 'bench', 'run.mjs'), ['--runs', '1', '--warmup', '0', '--sizes', '100', '--dir', dir]);
  t.equal(result.code, 0, 'the benchmark ran', { stderr: result.stderr });
  const rows = result.stdout.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| command'));
  const row = (label: RegExp) => rows.find((r) => label.test(r.split('|')[1] ?? ''));
  for (const label of [/node -e 0/, /kerio-dcc --help/, /kerio-dcc status/, /install --dry-run/, /cp -r` of 100 files/])
    t.ok(row(label), `a row for ${label.source}`);
  const install = row(/kerio-dcc install`, 100 files/);
  t.match(
    install ?? '',
    /\| \d+(\.\d+)? \| \d+\.\d+x node \+ copy \| \d+\.\d+ \| < 100 MB \| (yes|\*\*no\*\*) \|/,
    'install on 100 files has its time, its ratio to node plus cp -r, its peak memory and a verdict',
  );
  t.match(row(/kerio-dcc --help/) ?? '', /\d+\.\d+x node/, '--help is compared with node -e 0');
  t.equal((await readdir(dir)).length, 0, 'the throw-away images are removed');
});

const RECORD_USAGE = pathToFileURL(path.join(PROJECT, 'bench', 'recordUsage.mjs')).href;

/** Runs a Node script with the usage probe and returns its peak memory (RSS) in MB, as the process itself saw it. */
async function probedPeakMb(t: Tap, script: string, args: string[]): Promise<{ result: CliResult; mb: number }> {
  const file = path.join(await tempDir(t), 'usage');
  const result = await runNode(script, args, { env: { NODE_OPTIONS: `--import=${RECORD_USAGE}`, BENCH_USAGE_FILE: file } });
  return { result, mb: Number((await readFile(file, 'utf8')).split(' ')[0]) / 1024 };
}

/** Runs the CLI and returns its peak memory in MB. */
async function peakMb(t: Tap, args: string[]): Promise<number> {
  const { result, mb } = await probedPeakMb(t, BIN, args);
  succeeded(t, result, args[0]!);
  return mb;
}

t.test('the peak memory probe reports the process it runs in, not the one that started it', async (t) => {
  // Linux keeps a parent's peak RSS in its child's getrusage maxrss across fork and exec: this
  // test process, made large on purpose, must not show up in a `node -e 0` it starts.
  const ballast = Buffer.alloc(300 * 1024 * 1024, 1);
  const { result, mb } = await probedPeakMb(t, '-e', ['0']);
  t.equal(result.code, 0, 'node -e 0 ran', { stderr: result.stderr });
  t.ok(mb < 150, `node -e 0 peaked at ${mb.toFixed(1)} MB, started by a process of ${(process.memoryUsage().rss / 1024 / 1024).toFixed(0)} MB`);
  t.equal(ballast[ballast.length - 1], 1, 'the ballast was held while the child ran');
});

t.test('memory stays flat as the rules folder grows: install, status and rollback on 200 and on 10,000 files', async (t) => {
  // Measured here before manifests were streamed, from 200 to 10,000 files: install grew by
  // 21 MB, status by 20 MB and rollback by 65 MB. Now each grows by 3 to 7 MB (V8 lets its
  // young generation grow with the work, whatever is kept). Until the probe read VmHWM and
  // tap's tracker was kept out of the CLI, these figures were 15 to 20 MB higher and
  // rollback's growth sat at the limit (12 to 17 MB): the tracker's, not the tool's.
  const GROWTH_LIMIT_MB = 12;
  const peaks: Record<string, number[]> = { install: [], status: [], rollback: [] };
  for (const files of [200, 10_000]) {
    const img = await makeImage(t);
    const rules = rulesHost(img);
    await addGeneratedRules(rules, files - (await readdir(rules)).length, files);
    const on = ['--root', img.root, '--simulate'];
    peaks['install']!.push(await peakMb(t, ['install', ...on, '--yes']));
    peaks['status']!.push(await peakMb(t, ['status', ...on]));
    peaks['rollback']!.push(await peakMb(t, ['rollback', ...on, '--yes']));
  }
  for (const [command, [small, big]] of Object.entries(peaks)) {
    t.ok(
      big! - small! < GROWTH_LIMIT_MB,
      `${command}: ${small!.toFixed(1)} MB at 200 files, ${big!.toFixed(1)} MB at 10,000 (less than ${GROWTH_LIMIT_MB} MB more)`,
    );
  }
});
