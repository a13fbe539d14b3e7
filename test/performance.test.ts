import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { PROJECT, inImage, makeImage, rulesHost, runCli, succeeded, tempDir } from './helpers/cli.js';

// The benchmark's smoke run and the 10,000-file memory test are in test/perf/ (npm run test:perf).

const COUNT_OPENS = pathToFileURL(path.join(PROJECT, 'test', 'helpers', 'count-opens.mjs')).href;

async function filesBelow(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath ?? e.path, e.name));
}

t.test('install reads each file of the rules folder once to back it up, and never reads a copy again', async (t) => {
  const img = await makeImage(t);
  const rules = rulesHost(img);
  await mkdir(path.join(rules, 'channel', 'updates'), { recursive: true });
  for (let i = 0; i < 20; i++) await writeFile(path.join(rules, `70_extra_${i}.cf`), `body EXTRA_${i} /offer ${i}/\r\nscore EXTRA_${i} 0.5\r\n`);
  for (let i = 0; i < 5; i++) await writeFile(path.join(rules, 'channel', 'updates', `u${i}.cf`), `body U_${i} /u${i}/\n`);
  await writeFile(path.join(rules, 'channel', 'notes.txt'), 'notes\n');
  const sources = await filesBelow(rules);

  const log = path.join(await tempDir(t), 'opens.log');
  const result = await runCli(['install', '--root', img.root, '--simulate', '--yes'], { env: { NODE_OPTIONS: `--import=${COUNT_OPENS}`, OPEN_LOG: log } });
  succeeded(t, result, 'install');
  const opens = (await readFile(log, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [flags, file] = line.split('\t') as [string, string];
      // A backup is made in <id>.partial and renamed to <id> once complete: its copies are named by their final place.
      return { flags, file: path.resolve(file).replace(/([\\/]\d{8}T\d{6}Z(-\d+)?)\.partial(?=[\\/])/, '$1') };
    });
  const reads = (file: string) => opens.filter((o) => o.file === file && o.flags === 'r').length;

  // SpamAssassin reads the top-level .cf files, so planning scans each of them once for DCC_CHECK.
  const isScanned = (file: string) => path.dirname(file) === rules && file.endsWith('.cf');
  const wrong = sources.filter((f) => reads(f) !== (isScanned(f) ? 2 : 1)).map((f) => `${path.relative(rules, f)}: read ${reads(f)} times`);
  t.same(wrong, [], `each of the ${sources.length} files is read once for its backup (plus once by the DCC_CHECK scan for a top-level .cf)`);

  const backups = inImage(img.root, 'C:\\ProgramData\\kerio-dcc\\backups');
  const copies = (await filesBelow(backups)).filter((f) => f.includes(`${path.sep}files${path.sep}`));
  t.equal(copies.length, sources.length, 'every file has a copy');
  t.same(
    copies.filter((c) => opens.filter((o) => o.file === c).length !== 1),
    [],
    'each copy is opened once, to write it and read it back',
  );
  t.same(
    opens.filter((o) => copies.includes(o.file) && o.flags === 'r'),
    [],
    'no copy is opened again to re-hash it',
  );
});
