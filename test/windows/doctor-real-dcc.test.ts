// doctor on Windows for real: kerio-dcc.exe under Wine, with the real dccproc.exe (DCC 1.3.158
// cross-built with mingw-w64 from the unchanged upstream source) at the answers file's
// [dcc] dccproc, and a real map made by the real cdcc.exe at [dcc] home, listing only a private
// dccd on 127.0.0.1. The self-test goes through the live command runner (no --simulate; Wine's
// sc, netsh and net are stubs, so only the DCC checks are asserted there) and through
// `--simulate`, which must run the real dccproc.exe too, because the files are real.
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { stopwatch } from '../helpers/stopwatch.js';
import { buildImage } from '../../src/demo/image.js';
import { runSimulatedDccproc } from '../../src/system/simulatedDccproc.js';
import { readTemplate } from '../../src/templates.js';
import { CLIENT_ID, CLIENT_PASSWORD, SERVER_ID, startDccServer, type DccServer } from '../helpers/dccServer.js';
import { linuxDcc, linuxDccMissing, windowsDcc, windowsDccMissing } from '../helpers/realDcc.js';
import { buildExeIfNeeded, EXE, runExe, type ExeRun } from '../helpers/windows/exe.js';
import { WinePrefix, wineMissingReason } from '../helpers/windows/wine.js';

const TOOL = 'C:\\Program Files\\kerio-dcc\\kerio-dcc.exe';
const WORK = 'C:\\kerio-dcc-doctor';
const ANSWERS = `${WORK}\\answers.ini`;
const DCC_DIR = 'C:\\Program Files\\DCC Test';
const DCCPROC = `${DCC_DIR}\\dccproc.exe`;
const CDCC = `${DCC_DIR}\\cdcc.exe`;
const DCC_HOME = `${DCC_DIR}\\home`;
const BRAND = 'KerioWineTest';
const UDP_SENTENCE =
  /UDP port 6277: check the Windows Firewall rules kerio-dcc manages .*any firewall between this server and the Internet; or the DCC servers are down/;

t.setTimeout(15 * 60 * 1000);
const skipReason = wineMissingReason() ?? (linuxDccMissing() || windowsDccMissing() || null) ?? buildExeIfNeeded();
if (skipReason !== null) {
  t.plan(0, skipReason);
} else {
  await realDoctor();
}

async function realDoctor(): Promise<void> {
  const { timings, timed } = stopwatch();
  const [linux, windows] = await timed('real DCC (built or cached)', () => Promise.all([linuxDcc(), windowsDcc()]));
  if (linux.builtMs || windows.builtMs)
    t.comment(
      `built the real DCC: Linux ${(linux.builtMs / 1000).toFixed(1)} s, Windows ${(windows.builtMs / 1000).toFixed(1)} s (in parallel; cached for later runs)`,
    );
  const wine = await timed('wine prefix', () => WinePrefix.create());
  t.teardown(async () => {
    await wine.dispose();
    t.comment(`timings: ${timings.join('; ')}`);
  });
  const server: DccServer = await timed('start dccd', () => startDccServer(t, linux, { brand: BRAND }));

  const staging = await mkdtemp(path.join(os.tmpdir(), 'kerio-dcc-image-'));
  t.teardown(() => rm(staging, { recursive: true, force: true }));
  await timed('lay out Kerio, DCC and kerio-dcc.exe in the prefix', async () => {
    await buildImage(staging, { windows64: true, kerioBitness: 'x86', eol: 'crlf' });
    await wine.mergeIntoDriveC(staging);
    for (const [from, to] of [
      [EXE, TOOL],
      [windows.dccproc, DCCPROC],
      [windows.cdcc, CDCC],
    ] as const) {
      const host = await wine.hostPath(to);
      await mkdir(path.dirname(host), { recursive: true });
      await copyFile(from, host);
    }
    await mkdir(await wine.hostPath(DCC_HOME), { recursive: true });
    await mkdir(await wine.hostPath(WORK), { recursive: true });
    await writeFile(await wine.hostPath(ANSWERS), ['[dcc]', `home = ${DCC_HOME}`, `dccproc = ${DCCPROC}`, ''].join('\r\n'));
  });

  /** A new map made by the real cdcc.exe listing only the private server (no back-off left from an earlier run). */
  const freshMap = async () => {
    await rm(await wine.hostPath(`${DCC_HOME}\\map`), { force: true });
    const made = await wine.run([CDCC, '-h', DCC_HOME, 'new map', 'IPv6 off', `add 127.0.0.1,${server.port} RTT+0 ms ${CLIENT_ID} ${CLIENT_PASSWORD}`]);
    if (made.exitCode !== 0) throw new Error(`cdcc.exe new map failed (exit ${made.exitCode}): ${made.stdout}${made.stderr}`);
  };
  await timed('map made by cdcc.exe', freshMap);

  let runs = 0;
  const exe = (args: string[]): Promise<ExeRun> => runExe(wine, TOOL, WORK, `${WORK}\\run-${++runs}`, args);
  const seen = (run: ExeRun) => ({ stdout: run.stdout, stderr: run.stderr });
  const checkOf = (run: ExeRun, id: string) => run.json?.data?.checks?.find((c: { id: string }) => c.id === id);
  const dccprocCommands = (run: ExeRun) => (run.json?.commands ?? []).filter((c: { program: string }) => /dccproc\.exe$/i.test(c.program));

  await t.test('the real dccproc.exe prints what the simulated one replays, byte for byte', async (t) => {
    const message = `${WORK}\\doctor-message.eml`;
    await writeFile(await wine.hostPath(message), readTemplate('doctor-message.eml'));
    const sim = (mode: 'answers' | 'unreachable', args: string[]) =>
      runSimulatedDccproc(
        { mode, brand: BRAND, serverId: SERVER_ID },
        args.map((a) => (a === message ? path.join(staging, 'doctor-message.eml') : a)),
        () => {
          throw new Error('unsupported');
        },
      );
    await writeFile(path.join(staging, 'doctor-message.eml'), readTemplate('doctor-message.eml'));
    const version = await wine.run([DCCPROC, '-V']);
    const simVersion = sim('answers', ['-V']);
    t.same(
      { exitCode: version.exitCode, stdout: version.stdout, stderr: version.stderr },
      { exitCode: simVersion.exitCode, stdout: simVersion.stdout, stderr: simVersion.stderr },
      '-V: the version on stderr, CRLF',
    );
    const args = ['-h', DCC_HOME, '-Q', '-C', '-x', '0', '-i', message];
    const answered = await wine.run([DCCPROC, ...args]);
    const simAnswered = sim('answers', args);
    t.equal(answered.exitCode, 0);
    t.equal(answered.stdout, simAnswered.stdout, 'a server answers: header and checksum table');
    t.equal(answered.stderr, simAnswered.stderr);
  });

  await t.test('install --simulate with the answers file, then doctor --simulate asks the private server through the real dccproc.exe: exit 0', async (t) => {
    const install = await timed('install --simulate', () => exe(['install', '--answers', ANSWERS, '--simulate', '--yes', '--json']));
    t.equal(install.errorlevel, 0, 'install exits 0', seen(install));
    const run = await timed('doctor --simulate, server up', () => exe(['doctor', '--answers', ANSWERS, '--simulate', '--json']));
    t.equal(run.errorlevel, 0, '%ERRORLEVEL% is 0', seen(run));
    t.same(
      // Every check holds, but watch: no scheduled repair is registered here (ok null: not watched).
      run.json?.data?.checks?.filter((c: { id: string; ok: boolean }) => c.ok !== true && !(c.id === 'watch' && c.ok === null)),
      [],
      'every check holds',
    );
    t.same(run.json?.data?.dccproc, { version: '1.3.158', brand: BRAND, serverId: SERVER_ID }, 'the real answer, not "SimulatedDCC"');
    t.match(checkOf(run, 'dcc-query')?.detail, new RegExp(`^server ${BRAND} \\(server-ID ${SERVER_ID}\\) answered: Body=0 Fuz1=0 Fuz2=0`));
    const commands = dccprocCommands(run);
    t.equal(commands.length, 2, '-V and the query');
    t.ok(
      commands.every((c: { simulated: boolean; program: string }) => c.simulated === false && c.program === DCCPROC),
      'both ran the real dccproc.exe, recorded as not simulated',
    );
    t.match(checkOf(run, 'dccproc-version')?.detail, 'C:\\Program Files\\DCC Test\\dccproc.exe: DCC 1.3.158');
  });

  await t.test("doctor without --simulate stops at Wine's sc.exe, before the self-test: exit 3 naming it", async (t) => {
    // Wine's sc.exe answers `sc qc` with exit 1 and no output, and kerio-dcc refuses to guess where
    // Kerio is. So under Wine the live runner's dccproc.exe run is proven through --simulate above,
    // which hands dccproc.exe (and only it) to the live runner; the commands record says so.
    const before = await server.reports();
    const run = await timed('doctor live', () => exe(['doctor', '--answers', ANSWERS, '--json']));
    t.equal(run.errorlevel, 3, '%ERRORLEVEL% is 3', seen(run));
    t.equal(run.json?.simulated, false);
    t.match(run.json?.error?.message, /sc\.exe qc KerioMailServer exited with code 1/);
    t.equal(await server.reports(), before, 'nothing reached the server');
  });

  await t.test('with the server stopped: exit 6 and the UDP 6277 sentence, then the back-off explained', async (t) => {
    await server.stop();
    await freshMap();
    // dccproc rewrites its map on every run (it keeps its server state there), so the profile's copy
    // no longer matches: install copies it again, and the query is left as the only failing check.
    const reinstall = await timed('install again', () => exe(['install', '--answers', ANSWERS, '--simulate', '--yes', '--json']));
    t.equal(reinstall.errorlevel, 0, 'install exits 0', seen(reinstall));
    const simulated = await timed('doctor --simulate, server down', () => exe(['doctor', '--answers', ANSWERS, '--simulate', '--json']));
    t.equal(simulated.errorlevel, 6, '%ERRORLEVEL% is 6', seen(simulated));
    t.same(
      simulated.json?.data?.checks?.filter((c: { ok: boolean }) => c.ok === false).map((c: { id: string }) => c.id),
      ['dcc-query'],
      'only the DCC query fails',
    );
    const detail = checkOf(simulated, 'dcc-query')?.detail;
    t.match(detail, /no DCC server answered \(dccproc says "(no DCC answer from|no working DCC server at) 127\.0\.0\.1,\d+/);
    t.match(detail, UDP_SENTENCE);
    t.equal(simulated.json?.error?.message, 'DCC is not fully on: DCC servers answer (query only).');

    const again = await timed('doctor --simulate, backing off', () => exe(['doctor', '--answers', ANSWERS, '--simulate', '--json']));
    // The map check fails too now: dccproc has rewritten DCC's map since install copied it.
    t.equal(again.errorlevel, 6, '%ERRORLEVEL% is 6', seen(again));
    t.match(
      checkOf(again, 'dcc-query')?.detail,
      /continue not asking DCC \d+ seconds after 1 failures.*cdcc\.exe -h "C:\\Program Files\\DCC Test\\home" RTT/,
      'the back-off, with what to do',
    );
  });
}
