// Issue 22, under Wine with the real dccproc.exe (DCC 1.3.158 cross-built from the unchanged
// upstream source): dccproc.exe and a real map (made by the real cdcc.exe, listing only a private
// dccd on 127.0.0.1) sit in C:\Program Files\DCC. dccproc.exe is started the way SpamAssassin
// 4.0.1 on Windows starts it: the command string is the one its own code opens (Plugin/DCC.pm
// ask_dcc and Util.pm helper_app_pipe_open_windows, run by spamassassinWindows.ts: program path
// quoted, the rest joined by spaces, `< "tmpfile" 2>&1`), run by cmd.exe from a batch file, the
// honest equivalent of Perl's open(FH, "cmd |"). With the folder's short form, as Windows itself
// gives it, dccproc finds its map and the private server answers; with the long form the home
// arrives as two words and DCC says nothing useful.
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { readTemplate } from '../../src/templates.js';
import { CLIENT_ID, CLIENT_PASSWORD, SERVER_ID, startDccServer } from '../helpers/dccServer.js';
import { linuxDcc, linuxDccMissing, windowsDcc, windowsDccMissing } from '../helpers/realDcc.js';
import { installedSpamAssassinVersion, spamAssassinPipeOpens } from '../helpers/spamassassinWindows.js';
import { WinePrefix, untilWineStartsIt, wineMissingReason } from '../helpers/windows/wine.js';

const DCC_DIR = 'C:\\Program Files\\DCC';
const WORK = 'C:\\kerio-dcc-short-names';
/** Where sa-windows-dccproc.pl's SpamAssassin puts the message for dccproc's stdin. */
const SA_TMPFILE = 'C:\\Windows\\TEMP\\.spamassassin1234abcdef';
const BRAND = 'KerioShortName';
/** An X-DCC header from upstream makes SpamAssassin pass -Q: a query, nothing is reported. */
const UPSTREAM_X_DCC = 'X-DCC-Upstream-Metrics: upstream 1; Body=0 Fuz1=0 Fuz2=0';

const saVersion = installedSpamAssassinVersion();
const saMissing =
  saVersion === null
    ? "install Debian's spamassassin (4.0.1): apt-get install -y spamassassin"
    : saVersion !== '4.0.1'
      ? `this test reproduces SpamAssassin 4.0.1's code; the installed one is ${saVersion}`
      : null;

t.setTimeout(10 * 60 * 1000);
const skipReason = wineMissingReason() ?? (linuxDccMissing() || windowsDccMissing() || null) ?? saMissing;
if (skipReason !== null) {
  t.plan(0, skipReason);
} else {
  await shortNames();
}

async function shortNames(): Promise<void> {
  const [linux, windows] = await Promise.all([linuxDcc(), windowsDcc()]);
  const wine = await WinePrefix.create();
  t.teardown(() => wine.dispose());
  const server = await startDccServer(t, linux, { brand: BRAND });

  for (const [from, name] of [
    [windows.dccproc, 'dccproc.exe'],
    [windows.cdcc, 'cdcc.exe'],
  ] as const) {
    const host = await wine.hostPath(`${DCC_DIR}\\${name}`);
    await mkdir(path.dirname(host), { recursive: true });
    await copyFile(from, host);
  }
  // SpamAssassin passes -w whiteclnt (relative to the home): an empty one, as an installed DCC has.
  await writeFile(await wine.hostPath(`${DCC_DIR}\\whiteclnt`), '');
  const made = await wine.run([
    `${DCC_DIR}\\cdcc.exe`,
    '-h',
    DCC_DIR,
    'new map',
    'IPv6 off',
    `add 127.0.0.1,${server.port} RTT+0 ms ${CLIENT_ID} ${CLIENT_PASSWORD}`,
  ]);
  if (made.exitCode !== 0) throw new Error(`cdcc.exe new map failed (exit ${made.exitCode}): ${made.stdout}${made.stderr}`);
  await mkdir(await wine.hostPath(WORK), { recursive: true });
  await writeFile(await wine.hostPath(SA_TMPFILE), readTemplate('doctor-message.eml'));

  const asked = await wine.runBatch(`${WORK}\\short.cmd`, [`for %%I in ("${DCC_DIR}") do @echo %%~sI`]);
  const short = asked.stdout.trim();
  t.comment(`Windows (Wine) gives ${DCC_DIR} the short form ${short}`);

  let runs = 0;
  /** Runs SpamAssassin's command string for this dcc_home through cmd.exe; dccproc's stdout and stderr, as the pipe reads them. */
  const asSpamAssassin = async (home: string) => {
    const [opened] = spamAssassinPipeOpens([{ dcc_home: home, dcc_path: `${home}\\dccproc.exe`, upstream_x_dcc: UPSTREAM_X_DCC }]);
    const line = opened!.replace(/\|$/, '');
    const once = async () => {
      const base = `${WORK}\\run-${++runs}`;
      // cmd.exe's own stdout is the pipe Perl reads; the exit code goes to a file of its own.
      const run = await wine.runBatch(`${base}.cmd`, [line, `>"${base}.code" echo %ERRORLEVEL%`]);
      const code = (await readFile(await wine.hostPath(`${base}.code`), 'utf8').catch(() => '')).trim();
      return { line, output: run.stdout, errorlevel: code };
    };
    return untilWineStartsIt(
      once,
      (run) => run,
      (output) => t.comment(`Wine could not start dccproc.exe: ${output.trim()}`),
    );
  };

  const before = await server.reports();

  await t.test('the short form Windows gives the folder has no space: SpamAssassin can pass it', async (t) => {
    t.equal(asked.exitCode, 0, 'the batch file ran', { stderr: asked.stderr });
    t.match(short, /^C:\\[^\s"]+\\DCC$/i, 'one word ending in \\DCC');
    t.not(short.toLowerCase(), DCC_DIR.toLowerCase(), 'not the long form');
  });

  await t.test(`dcc_home ${short || '(short form)'}: dccproc.exe finds its map and the private server answers`, async (t) => {
    const run = await asSpamAssassin(short);
    t.equal(
      run.line,
      `"${short}\\dccproc.exe" -C -x 0 -h ${short} -Q -a 192.0.2.1 -w whiteclnt < "${SA_TMPFILE}" 2>&1`,
      'the command SpamAssassin 4.0.1 builds',
    );
    t.comment(`dccproc printed:\n${run.output}`);
    t.equal(run.errorlevel, '0', 'dccproc exits 0');
    t.match(
      run.output,
      new RegExp(`^X-DCC-${BRAND}-Metrics: \\S+ ${SERVER_ID}; Body=\\d+ Fuz1=\\d+ Fuz2=\\d+`, 'm'),
      `the header names the private server: ${BRAND}, server-ID ${SERVER_ID}`,
    );
  });

  await t.test(`dcc_home ${DCC_DIR}: the home arrives as two words and no server answers`, async (t) => {
    const run = await asSpamAssassin(DCC_DIR);
    t.equal(
      run.line,
      `"${DCC_DIR}\\dccproc.exe" -C -x 0 -h ${DCC_DIR} -Q -a 192.0.2.1 -w whiteclnt < "${SA_TMPFILE}" 2>&1`,
      'the command SpamAssassin 4.0.1 builds',
    );
    t.comment(`dccproc printed (errorlevel ${run.errorlevel}):\n${run.output}`);
    // dccproc stops at the stray word before it looks at any home, even though this folder is its
    // built-in default home: so -x 0 hides the failure from SpamAssassin, and no X-DCC header comes.
    t.match(run.output, /^unrecognized "Files\\DCC"\r?$/m, 'dccproc got -h C:\\Program and a stray Files\\DCC');
    t.match(run.output, /; fatal error/, 'and gave up');
    t.notMatch(run.output, /X-DCC/, 'no X-DCC header: no DCC server was asked');
  });

  await t.test('-Q: nothing was reported to the server', async (t) => {
    t.equal(await server.reports(), before);
  });
}
