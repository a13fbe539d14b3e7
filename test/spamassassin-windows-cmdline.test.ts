// SpamAssassin 4.0.1 on Windows starts dccproc through Plugin/DCC.pm (ask_dcc: the argument
// list `dcc_path -C -x 0 -h dcc_home -a IP -w whiteclnt`) and Util.pm
// (helper_app_pipe_open_windows: only the program path quoted, everything joined with
// spaces, run through cmd.exe). These tests run that real code (Debian's package) and split
// the result as dccproc's C runtime does, to show which dcc_home reaches dccproc intact.
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import t from 'tap';
import { demoMapBytes } from '../src/demo/image.js';
import { simulatedShortPath } from '../src/system/simulated/shortName.js';
import { commandLineHazard } from '../src/windows/shortPath.js';
import { inImage, kerioOnImage, makeImage, succeeded } from './helpers/cli.js';
import { dccprocArgvOnWindows, installedSpamAssassinVersion, type DccSettingsCase } from './helpers/spamassassinWindows.js';
import { windowsArgv } from './helpers/windowsArgv.js';

const version = installedSpamAssassinVersion();
const skip =
  version === null
    ? "install Debian's spamassassin (4.0.1): apt-get install -y spamassassin"
    : version !== '4.0.1'
      ? `these tests reproduce SpamAssassin 4.0.1's code; the installed one is ${version}`
      : false;

t.test('the argv parser follows the examples of "Parsing C command-line arguments"', async (t) => {
  // Input and argv[1..] pairs from Microsoft's documentation.
  const examples: [string, string[]][] = [
    ['"a b c" d e', ['a b c', 'd', 'e']],
    ['"ab\\"c" "\\\\" d', ['ab"c', '\\', 'd']],
    ['a\\\\\\b d"e f"g h', ['a\\\\\\b', 'de fg', 'h']],
    ['a\\\\\\"b c d', ['a\\"b', 'c', 'd']],
    ['a\\\\\\\\"b c" d e', ['a\\\\b c', 'd', 'e']],
    ['a"b"" c d', ['ab" c d']],
  ];
  for (const [line, args] of examples) t.same(windowsArgv(`prog ${line}`).slice(1), args, line);
  t.same(
    windowsArgv('"C:\\Program Files\\DCC\\dccproc.exe" -h x'),
    ['C:\\Program Files\\DCC\\dccproc.exe', '-h', 'x'],
    'argv[0] keeps its quoted spaces; backslashes stay',
  );
});

/** The value that follows -h in dccproc's argv, and the argv after it, for each dcc_home. */
function afterH(cases: DccSettingsCase[]): { home: string | undefined; rest: string[] }[] {
  return dccprocArgvOnWindows(cases).map((argv) => {
    const i = argv.indexOf('-h');
    return { home: argv[i + 1], rest: argv.slice(i + 2) };
  });
}

const TAIL = ['-a', '192.0.2.1', '-w', 'whiteclnt'];

t.test(`SpamAssassin ${version ?? '4.0.1'} on Windows: what reaches dccproc after -h`, { skip }, async (t) => {
  t.test('the raw C:\\Program Files\\DCC arrives broken in two', async (t) => {
    const [argv] = dccprocArgvOnWindows([{ dcc_home: 'C:\\Program Files\\DCC', dcc_path: 'C:\\Program Files\\DCC\\dccproc.exe' }]);
    t.same(
      argv,
      ['C:\\Program Files\\DCC\\dccproc.exe', '-C', '-x', '0', '-h', 'C:\\Program', 'Files\\DCC', ...TAIL],
      'dccproc gets -h C:\\Program and a stray Files\\DCC',
    );
  });

  t.test('the 8.3 short forms arrive intact', async (t) => {
    const homes = ['C:\\PROGRA~1\\DCC', 'C:\\PROGRA~2\\DCC\\etc', 'C:\\sa\\etc\\dcc'];
    const seen = afterH(homes.map((h) => ({ dcc_home: h, dcc_path: 'C:\\PROGRA~1\\DCC\\dccproc.exe' })));
    seen.forEach((s, i) => {
      t.equal(s.home, homes[i], `${homes[i]} is one argument`);
      t.same(s.rest, TAIL, 'and the arguments after it are untouched');
    });
  });

  t.test('every dcc_home kerio-dcc would write reaches dccproc intact', async (t) => {
    // Paths from the characters kerio-dcc's answers accept (SpamAssassin's own path check:
    // letters, digits, space and - _ . % = + , / : ( ) @ \ ~), made at random but repeatably.
    const alphabet = 'abcXYZ019-_.%=+,/:()@~ ';
    let seed = 22;
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const accepted: string[] = [
      'C:\\sa\\etc\\dcc',
      'C:\\Program Files\\DCC',
      'C:\\Program Files (x86)\\DCC',
      'C:\\DCC 1.3\\home',
      'C:\\dcc+home',
      'C:\\a=b,c',
      'C:\\50%\\dcc',
      'C:\\x@y\\(dcc)',
    ];
    for (let i = 0; i < 300; i++) {
      const parts = Array.from(
        { length: 1 + random(3) },
        () =>
          Array.from({ length: 1 + random(12) }, () => alphabet[random(alphabet.length)])
            .join('')
            .trim() || 'd',
      );
      accepted.push(`C:\\${parts.join('\\')}`);
    }
    // What kerio-dcc writes: the path when nothing in it is split or interpreted, else the
    // short name the (simulated) server gives; when even that is unsafe, it writes nothing.
    const written = accepted.map((p) => (commandLineHazard(p) === null ? p : simulatedShortPath(p, true))).filter((p) => commandLineHazard(p) === null);
    t.ok(written.length >= 200, `${written.length} of ${accepted.length} paths are written (the rest refused)`);
    t.ok(written.includes('C:\\PROGRA~1\\DCC'), 'C:\\Program Files\\DCC is written as C:\\PROGRA~1\\DCC');
    const seen = afterH(written.map((h) => ({ dcc_home: h, dcc_path: 'C:\\sa\\dccproc.exe' })));
    const broken = seen.filter((s, i) => s.home !== written[i] || s.rest.join(' ') !== TAIL.join(' ')).map((_, i) => written[i]);
    t.same(broken, [], 'no written dcc_home is split or changed on its way to dccproc');
    const raw = afterH(accepted.filter((p) => p.includes(' ') && !p.includes('%')).map((h) => ({ dcc_home: h, dcc_path: 'C:\\sa\\dccproc.exe' })));
    t.ok(raw.length > 20 && raw.every((s) => s.rest.join(' ') !== TAIL.join(' ')), `while every raw path with a space (${raw.length}) arrives split`);
  });

  t.test('end to end: what install writes into local.cf for C:\\Program Files\\DCC reaches dccproc intact', async (t) => {
    const img = await makeImage(t);
    await mkdir(inImage(img.root, 'C:\\Program Files\\DCC'), { recursive: true });
    await copyFile(inImage(img.root, 'C:\\sa\\dccproc.exe'), inImage(img.root, 'C:\\Program Files\\DCC\\dccproc.exe'));
    await writeFile(inImage(img.root, 'C:\\Program Files\\DCC\\map'), demoMapBytes());
    const answers = inImage(img.root, 'C:\\dcc.ini');
    await writeFile(answers, '[dcc]\nhome = C:\\Program Files\\DCC\ndccproc = C:\\Program Files\\DCC\\dccproc.exe\n');
    succeeded(t, await kerioOnImage(img, ['install', '--answers', answers, '--yes']), 'install');
    const local = (await readFile(inImage(img.root, `${img.rulesDir}\\local.cf`), 'latin1')).split(/\r?\n/);
    const setting = (key: string) => local.find((l) => l.startsWith(`${key} `))!.slice(key.length + 1);
    const written = { dcc_home: setting('dcc_home'), dcc_path: setting('dcc_path') };
    t.same(written, { dcc_home: 'C:\\PROGRA~1\\DCC', dcc_path: 'C:\\PROGRA~1\\DCC\\dccproc.exe' });
    const [argv] = dccprocArgvOnWindows([written]);
    t.same(argv, ['C:\\PROGRA~1\\DCC\\dccproc.exe', '-C', '-x', '0', '-h', 'C:\\PROGRA~1\\DCC', ...TAIL]);
  });
});
