import { createHash } from 'node:crypto';
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { COMMANDS } from '../src/cli/args.js';
import { demoMapBytes, type Image } from '../src/demo/image.js';
import { makePeStub, type Bitness } from '../src/windows/pe.js';
import { fixtureRulesDir, missingFixtureMessage, SA_VERSIONS } from './helpers/fixtures.js';
import { hashTree, inImage, makeImage, PROJECT, runCli, type CliResult } from './helpers/cli.js';
import { readBackupJson } from './helpers/backupStore.js';
import { withStateFolderSecured } from '../src/system/simulated/acl.js';

const SYSTEM32_PROFILE = 'C:\\Windows\\System32\\config\\systemprofile\\.spamassassin';
const SYSWOW64_PROFILE = 'C:\\Windows\\SysWOW64\\config\\systemprofile\\.spamassassin';
const SIM_STATE = 'C:\\ProgramData\\kerio-dcc\\simulated-system.json';
const NETSH = 'C:\\Windows\\System32\\netsh.exe';
const SC = 'C:\\Windows\\System32\\sc.exe';
const RULE_OUT = 'Kerio DCC (UDP 6277 out)';
const RULE_IN = 'Kerio DCC (UDP 6277 in)';
const STEP_IDS = ['locate', 'backup', 'profile', 'map', 'local-cf', 'v310-pre', 'firewall', 'service'];
const PACKAGE_VERSION: string = JSON.parse(await readFile(path.join(PROJECT, 'package.json'), 'utf8')).version;

// An active score line that leaves DCC_CHECK at zero, as SpamAssassin would read it.
const ACTIVE_ZERO_SCORE = /^[ \t]*score[ \t]+DCC_CHECK[ \t]+0(\.0+)?[ \t]*(#.*)?$/i;
const ACTIVE_DCC_LOADPLUGIN = /^[ \t]*loadplugin[ \t]+Mail::SpamAssassin::Plugin::DCC[ \t]*$/;

function install(image: Image, ...extra: string[]): Promise<CliResult> {
  return runCli(['install', '--root', image.root, ...extra]);
}

function exitsWith(t: Test, run: CliResult, code: number): void {
  t.equal(run.code, code, `exits ${code}`, { stderr: run.stderr });
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function readWin(image: Image, winPath: string): Promise<Buffer> {
  return readFile(inImage(image.root, winPath));
}

async function existsWin(image: Image, winPath: string): Promise<boolean> {
  return access(inImage(image.root, winPath)).then(
    () => true,
    () => false,
  );
}

/** Lines with their terminators: a comparison sees line endings too. */
function linesWithEol(bytes: Buffer): string[] {
  return bytes
    .toString('latin1')
    .split(/(?<=\n)/)
    .filter((l) => l !== '');
}

function textLines(bytes: Buffer): string[] {
  return linesWithEol(bytes).map((l) => l.replace(/\r?\n$/, ''));
}

function everyLineEndsCrlf(bytes: Buffer): boolean {
  const lines = linesWithEol(bytes);
  return lines.length > 0 && lines.every((l) => l.endsWith('\r\n'));
}

function noCarriageReturn(bytes: Buffer): boolean {
  return !bytes.includes('\r');
}

/** Relative paths whose content differs (or that exist on one side only). */
function changedPaths(before: Record<string, string>, after: Record<string, string>): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((k) => before[k] !== after[k]).sort();
}

/** The kerio-dcc block's lines, markers included; empty when there is no block. */
function managedBlock(lines: string[]): string[] {
  const begin = lines.indexOf('# BEGIN kerio-dcc');
  const end = lines.indexOf('# END kerio-dcc');
  return begin === -1 || end < begin ? [] : lines.slice(begin, end + 1);
}

function mutating(result: CliResult): Array<{ program: string; args: string[] }> {
  return (result.json?.commands ?? []).filter((c: { mutates: boolean }) => c.mutates);
}

function rulesFolderHost(image: Image): string {
  return inImage(image.root, image.rulesDir);
}

/** A simulated server with Kerio's service as the demo image has it, plus the given firewall rules. */
function simulatedServer(image: Image, firewall: object[] = [], changes: Record<string, unknown> = {}): object {
  return {
    schema: 1,
    elevated: true,
    language: 'en',
    services: {
      KerioMailServer: {
        state: 4,
        binaryPath: `"${image.installDir}\\mailserver.exe"`,
        startName: 'LocalSystem',
        stopHangs: false,
        startFails: false,
      },
    },
    firewall,
    ...changes,
  };
}

function dccRule(name: string, direction: 'In' | 'Out', ports: { localPort?: string; remotePort?: string } = {}): object {
  return {
    name,
    enabled: 'Yes',
    direction,
    profiles: 'Domain,Private,Public',
    protocol: 'UDP',
    localPort: ports.localPort ?? '1024-65535',
    remotePort: ports.remotePort ?? '6277',
    action: 'Allow',
  };
}

async function writeSimState(image: Image, state: object): Promise<void> {
  const host = inImage(image.root, SIM_STATE);
  await mkdir(path.dirname(host), { recursive: true });
  await writeFile(host, JSON.stringify(withStateFolderSecured(state), null, 2));
}

async function readSimState(image: Image): Promise<any> {
  return JSON.parse(await readFile(inImage(image.root, SIM_STATE), 'utf8'));
}

t.test('install on a 64-bit Windows image with 32-bit Kerio turns DCC on, keeps CRLF and backs up first', async (t) => {
  const image = await makeImage(t);
  const before = await hashTree(image.root);
  const localBefore = await readWin(image, `${image.rulesDir}\\local.cf`);
  const v310Before = await readWin(image, `${image.rulesDir}\\v310.pre`);

  const run = await install(image, '--simulate', '--yes', '--json');
  exitsWith(t, run, 0);
  const after = await hashTree(image.root);

  t.test('the map is copied byte for byte into the SysWOW64 profile only', async (t) => {
    t.ok((await readWin(image, `${SYSWOW64_PROFILE}\\map`)).equals(demoMapBytes()));
    t.ok((await readWin(image, `${SYSWOW64_PROFILE}\\map`)).equals(await readWin(image, image.map)));
    t.notOk(await existsWin(image, SYSTEM32_PROFILE), 'no System32 profile folder for a 32-bit Kerio');
  });

  t.test('local.cf has the DCC block, the zero score is turned off, every other line is kept', async (t) => {
    const local = await readWin(image, `${image.rulesDir}\\local.cf`);
    const lines = textLines(local);
    const block = managedBlock(lines);
    t.ok(block.length > 0, 'a # BEGIN kerio-dcc ... # END kerio-dcc block is there');
    const at = (line: string) => block.indexOf(line);
    t.ok(at('ifplugin Mail::SpamAssassin::Plugin::DCC') > 0, 'the dcc_* settings sit inside ifplugin');
    t.ok(at('dcc_home C:\\sa\\etc\\dcc') > at('ifplugin Mail::SpamAssassin::Plugin::DCC'));
    t.ok(at('dcc_path C:\\sa\\dccproc.exe') > 0);
    t.ok(at('use_dcc 1') > 0);
    t.ok(at('endif') > at('use_dcc 1'));
    t.ok(at('add_header all DCC _DCCB_: _DCCR_') > 0);
    t.same(
      lines.filter((l) => ACTIVE_ZERO_SCORE.test(l)),
      [],
      'no active score DCC_CHECK 0 is left',
    );
    const disabled = lines.filter((l) => l.startsWith('#') && l.endsWith('score DCC_CHECK 0'));
    t.equal(disabled.length, 1, 'the zero score line is commented out, not deleted, so uninstall can restore it');
    const begin = lines.indexOf('# BEGIN kerio-dcc');
    const outsideBlock = [...lines.slice(0, begin), ...lines.slice(begin + block.length)];
    const kept = outsideBlock.filter((l) => !disabled.includes(l));
    t.same(
      kept,
      textLines(localBefore).filter((l) => !ACTIVE_ZERO_SCORE.test(l)),
      'every other line is as it was, in order',
    );
    t.ok(everyLineEndsCrlf(local), 'every line of local.cf ends with CRLF');
  });

  t.test('v310.pre loads the DCC plugin and no other line changed', async (t) => {
    const v310 = await readWin(image, `${image.rulesDir}\\v310.pre`);
    const lines = textLines(v310);
    const old = textLines(v310Before);
    t.equal(lines.filter((l) => ACTIVE_DCC_LOADPLUGIN.test(l)).length, 1, 'exactly one active DCC loadplugin line');
    t.equal(lines.length, old.length);
    t.equal(lines.filter((l, i) => l !== old[i]).length, 1, 'only the loadplugin line differs');
    t.ok(everyLineEndsCrlf(v310), 'every line of v310.pre ends with CRLF');
  });

  t.test('rule files the install does not patch are byte-identical', async (t) => {
    const rules = path.relative(image.root, rulesFolderHost(image));
    const changedRules = changedPaths(before, after).filter((p) => p.startsWith(rules + path.sep));
    t.same(changedRules.map((p) => path.basename(p)).sort(), ['local.cf', 'v310.pre']);
  });

  t.test('a backup folder holds every rule file, and its manifest hashes match the originals', async (t) => {
    t.match(run.json.backup, /^C:\\ProgramData\\kerio-dcc\\backups\\[^\\]+$/);
    const backupHost = inImage(image.root, run.json.backup);
    const manifest = await readBackupJson(backupHost);
    t.equal(manifest.toolVersion, PACKAGE_VERSION);
    const rulesRel = path.relative(image.root, rulesFolderHost(image));
    const ruleFiles = Object.keys(before).filter((p) => p.startsWith(rulesRel + path.sep) && before[p] !== 'dir');
    const recorded = new Map<string, { sha256: string; backup: string; size: number }>(
      manifest.files.map((f: { path: string }) => [path.relative(image.root, inImage(image.root, f.path)), f]),
    );
    for (const file of ruleFiles) {
      const entry = recorded.get(file);
      t.ok(entry, `${file} is in the manifest`);
      if (!entry) continue;
      t.equal(entry.sha256, before[file], `${file}: the manifest has the original's hash`);
      const copy = await readFile(path.join(backupHost, ...entry.backup.split('/')));
      t.equal(sha256(copy), entry.sha256, `${file}: the backup copy matches its hash`);
      t.equal(copy.length, entry.size);
    }
    const created = manifest.created.map((c: { path: string }) => c.path);
    t.ok(created.includes(SYSWOW64_PROFILE), 'the manifest lists the profile folder the run created');
    t.ok(created.includes(`${SYSWOW64_PROFILE}\\map`), 'the manifest lists the map copy the run created');
  });

  t.test('the JSON output names every step, the backup and every system command', async (t) => {
    const json = run.json;
    t.equal(json.command, 'install');
    t.equal(json.ok, true);
    t.equal(json.changed, true);
    t.same(
      json.steps.map((s: { id: string }) => s.id),
      STEP_IDS,
    );
    for (const s of json.steps) {
      t.type(s.detail, 'string');
      t.ok(s.detail.length > 0, `${s.id} has a detail`);
    }
    t.same(
      json.steps.map((s: { status: string }) => s.status),
      ['unchanged', 'changed', 'changed', 'changed', 'changed', 'changed', 'changed', 'changed'],
    );
    const adds = mutating(run).filter((c) => c.args.includes('add'));
    t.same(
      adds.map((c) => ({ program: c.program, args: [...c.args].sort() })),
      [RULE_OUT, RULE_IN].map((name) => ({
        program: NETSH,
        args: [
          'advfirewall',
          'firewall',
          'add',
          'rule',
          `name=${name}`,
          `dir=${name.endsWith('out)') ? 'out' : 'in'}`,
          'action=allow',
          'protocol=UDP',
          'localport=1024-65535',
          'remoteport=6277',
          'profile=any',
          'enable=yes',
        ].sort(),
      })),
      'two netsh add rule commands, by absolute path, as argument arrays',
    );
    const all = json.commands as Array<{ program: string; args: string[] }>;
    const stop = all.findIndex((c) => c.program === SC && c.args.join(' ') === 'stop KerioMailServer');
    const start = all.findIndex((c) => c.program === SC && c.args.join(' ') === 'start KerioMailServer');
    t.ok(stop >= 0 && start > stop, 'sc stop, then sc start');
    const securing = mutating(run).filter((c) => c.program.endsWith('\\powershell.exe'));
    t.equal(securing.length, 1, 'one PowerShell call: creating the state folder with its ACL at once');
    t.match(
      Buffer.from(securing[0]!.args.at(-1)!, 'base64').toString('utf16le'),
      /^# kerio-dcc: new-folder\n\$path = 'C:\\ProgramData\\kerio-dcc'\n\$sddl = 'O:BAG:SYD:PAI\(A;OICI;FA;;;SY\)\(A;OICI;FA;;;BA\)'/,
    );
    t.equal(mutating(run).length, 5, 'nothing else changing ran: securing the new state folder, two adds, a stop and a start');
  });

  t.test('the simulated firewall has exactly the two DCC rules and the service runs again', async (t) => {
    const state = await readSimState(image);
    t.same(
      state.firewall.map((r: any) => [r.name, r.direction, r.protocol, r.localPort, r.remotePort, r.action, r.enabled]),
      [
        [RULE_OUT, 'Out', 'UDP', '1024-65535', '6277', 'Allow', 'Yes'],
        [RULE_IN, 'In', 'UDP', '1024-65535', '6277', 'Allow', 'Yes'],
      ],
    );
    t.equal(state.services.KerioMailServer.state, 4);
  });
});

t.test('a second install changes nothing, writes no backup and runs no changing command', async (t) => {
  const image = await makeImage(t);
  const first = await install(image, '--simulate', '--yes', '--json');
  exitsWith(t, first, 0);
  const between = await hashTree(image.root);
  const second = await install(image, '--simulate', '--yes', '--json');
  exitsWith(t, second, 0);
  t.equal(second.json.changed, false);
  t.equal(second.json.backup, null);
  t.same(
    second.json.steps.map((s: { id: string }) => s.id),
    STEP_IDS,
  );
  t.ok(
    second.json.steps.every((s: { status: string }) => s.status === 'unchanged'),
    'every step is unchanged',
  );
  t.same(mutating(second), [], 'no changing command was run');
  t.same(await hashTree(image.root), between, 'every file (backups and the simulated system included) is as the first run left it');
});

t.test('--dry-run shows the diffs and changes nothing at all', async (t) => {
  const image = await makeImage(t);
  const before = await hashTree(image.root);
  const human = await install(image, '--simulate', '--dry-run');
  exitsWith(t, human, 0);
  t.match(human.stdout, /^\s*-score DCC_CHECK 0$/m, 'the diff shows the zero score going');
  t.match(human.stdout, /^\s*\+dcc_home C:\\sa\\etc\\dcc$/m, 'the diff shows the block coming');
  t.match(human.stdout, /^\s*-#loadplugin Mail::SpamAssassin::Plugin::DCC$/m);
  t.match(human.stdout, /^\s*\+loadplugin Mail::SpamAssassin::Plugin::DCC$/m);
  const json = await install(image, '--simulate', '--dry-run', '--json');
  exitsWith(t, json, 0);
  t.equal(json.json.changed, false);
  t.equal(json.json.backup, null);
  t.ok(
    json.json.steps.some((s: { status: string }) => s.status === 'would-change'),
    'steps say what would change',
  );
  t.ok(json.json.steps.find((s: { id: string }) => s.id === 'local-cf').diffs[0].includes('+use_dcc 1'));
  t.ok(json.json.commands.length > 0, 'read-only commands (sc qc, netsh show) still ran');
  t.same(mutating(json), [], 'no changing command was run');
  t.same(await hashTree(image.root), before, 'the whole image is byte-identical, no backup folder, no simulated state written');
});

t.test('the profile folder follows the bitness of Windows and of Kerio', async (t) => {
  t.jobs = 3;
  const cases: Array<{
    name: string;
    options: Parameters<typeof makeImage>[1];
    unreadableBinaries?: boolean;
    /** Binaries of another bitness than the image's, as a mixed or half-upgraded install may have. */
    binaries?: { mailserver: Bitness; spamserver: Bitness };
    want: string[];
  }> = [
    { name: '32-bit Windows uses the System32 profile', options: { windows64: false, kerioBitness: 'x86' }, want: [SYSTEM32_PROFILE] },
    { name: '64-bit Kerio on 64-bit Windows uses the System32 profile', options: { windows64: true, kerioBitness: 'x64' }, want: [SYSTEM32_PROFILE] },
    // SpamAssassin runs inside spamserver.exe: when the two binaries differ, its bitness decides, not mailserver.exe's.
    {
      name: 'a 32-bit spamserver.exe beside a 64-bit mailserver.exe uses the SysWOW64 profile',
      options: { windows64: true, kerioBitness: 'x86' },
      binaries: { mailserver: 'x64', spamserver: 'x86' },
      want: [SYSWOW64_PROFILE],
    },
    {
      name: 'a 64-bit spamserver.exe beside a 32-bit mailserver.exe uses the System32 profile',
      options: { windows64: true, kerioBitness: 'x86' },
      binaries: { mailserver: 'x86', spamserver: 'x64' },
      want: [SYSTEM32_PROFILE],
    },
    {
      name: 'an unreadable Kerio binary on 64-bit Windows gets both profiles',
      options: { windows64: true, kerioBitness: 'x86' },
      unreadableBinaries: true,
      want: [SYSTEM32_PROFILE, SYSWOW64_PROFILE],
    },
  ];
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const image = await makeImage(t, c.options);
      if (c.binaries) {
        await writeFile(inImage(image.root, `${image.installDir}\\mailserver.exe`), makePeStub(c.binaries.mailserver));
        await writeFile(inImage(image.root, `${image.installDir}\\plugins\\spamserver.exe`), makePeStub(c.binaries.spamserver));
      }
      if (c.unreadableBinaries) {
        // Both binaries the bitness is read from: spamserver.exe, and mailserver.exe as the fallback.
        for (const exe of ['mailserver.exe', 'plugins\\spamserver.exe']) {
          await writeFile(inImage(image.root, `${image.installDir}\\${exe}`), Buffer.from('not a PE file at all, just garbage bytes'));
        }
      }
      const run = await install(image, '--simulate', '--yes', '--json');
      exitsWith(t, run, 0);
      for (const profile of [SYSTEM32_PROFILE, SYSWOW64_PROFILE]) {
        const wanted = c.want.includes(profile);
        const map = await existsWin(image, `${profile}\\map`);
        t.equal(map, wanted, `${profile}\\map ${wanted ? 'is' : 'is not'} written`);
        if (map) t.ok((await readWin(image, `${profile}\\map`)).equals(demoMapBytes()));
      }
      const profileStep = run.json.steps.find((s: { id: string }) => s.id === 'profile');
      t.match(profileStep.detail, c.want.length === 2 ? /both/ : c.want[0] === SYSTEM32_PROFILE ? /System32/ : /SysWOW64/, 'the plan says which rule decided');
      if (c.binaries) t.match(profileStep.detail, /spamserver\.exe/, 'and names spamserver.exe as the binary whose bitness decided');
    });
  }
});

t.test('an image folder whose name has spaces, non-ASCII and & % ^ characters works', async (t) => {
  const image = await makeImage(t, {}, 'kerio dcc ü é & 100% ^caret ');
  t.match(image.root, / ü é & 100% \^caret /);
  const run = await install(image, '--simulate', '--yes');
  exitsWith(t, run, 0);
  const stepLines = run.stdout.split('\n').filter((l) => /^ {2}(changed|unchanged|skipped) /.test(l));
  t.equal(stepLines.length, STEP_IDS.length, 'the human output has one line per step', { stdout: run.stdout });
  t.match(run.stdout, /^Backup: C:\\ProgramData\\kerio-dcc\\backups\\\S+$/m, 'and says where the backup is');
  t.ok((await readWin(image, `${SYSWOW64_PROFILE}\\map`)).equals(demoMapBytes()));
  t.ok(managedBlock(textLines(await readWin(image, `${image.rulesDir}\\local.cf`))).length > 0);
  const again = await install(image, '--simulate', '--yes', '--json');
  exitsWith(t, again, 0);
  t.equal(again.json.changed, false);
});

t.test('a zero DCC score in any .cf of the rules folder is turned off, a per-score-set line is kept', async (t) => {
  const image = await makeImage(t);
  const override = `${image.rulesDir}\\60_kerio_override.cf`;
  await writeFile(inImage(image.root, override), '# Kerio override\r\nscore DCC_CHECK 0.0 # no DCC\r\nscore OTHER_RULE 0\r\n');
  const scoresBefore = await readWin(image, `${image.rulesDir}\\50_scores.cf`);
  const run = await install(image, '--yes', '--json');
  exitsWith(t, run, 0);
  const lines = textLines(await readWin(image, override));
  t.equal(lines[0], '# Kerio override');
  t.ok(lines[1]!.startsWith('#') && lines[1]!.endsWith('score DCC_CHECK 0.0 # no DCC'), 'the zero score is commented out');
  t.equal(lines[2], 'score OTHER_RULE 0', 'other rules are not touched');
  t.ok(everyLineEndsCrlf(await readWin(image, override)));
  t.ok((await readWin(image, `${image.rulesDir}\\50_scores.cf`)).equals(scoresBefore), 'score DCC_CHECK 0 1.1 0 1.1 is not a disabling line');
});

t.test('each real SpamAssassin rule set, CRLF and LF, installs once and then stays unchanged', async (t) => {
  t.jobs = 2;
  for (const version of SA_VERSIONS) {
    for (const eol of ['crlf', 'lf'] as const) {
      const rules = fixtureRulesDir(version);
      t.test(`SpamAssassin ${version} rules with ${eol.toUpperCase()} line endings`, { skip: rules ? false : missingFixtureMessage(version) }, async (t) => {
        const image = await makeImage(t, { rulesFrom: rules!, addKerioZeroScore: true, eol });
        const rulesRel = path.relative(image.root, rulesFolderHost(image));
        const before = await hashTree(image.root);
        const first = await install(image, '--yes', '--json');
        exitsWith(t, first, 0);
        t.equal(first.json.changed, true);
        const after = await hashTree(image.root);
        const changedRules = changedPaths(before, after).filter((p) => p.startsWith(rulesRel + path.sep));
        t.same(changedRules.map((p) => path.basename(p)).sort(), ['local.cf', 'v310.pre'], 'only local.cf and v310.pre change');
        for (const name of ['local.cf', 'v310.pre']) {
          const bytes = await readWin(image, `${image.rulesDir}\\${name}`);
          t.ok(eol === 'crlf' ? everyLineEndsCrlf(bytes) : noCarriageReturn(bytes), `${name} keeps ${eol.toUpperCase()} line endings`);
        }
        const local = textLines(await readWin(image, `${image.rulesDir}\\local.cf`));
        t.same(
          local.filter((l) => ACTIVE_ZERO_SCORE.test(l)),
          [],
          'the Kerio zero score is off',
        );
        t.ok(managedBlock(local).includes('use_dcc 1'));
        t.equal(textLines(await readWin(image, `${image.rulesDir}\\v310.pre`)).filter((l) => ACTIVE_DCC_LOADPLUGIN.test(l)).length, 1);
        t.same(
          first.json.steps.filter((s: { id: string }) => s.id === 'firewall' || s.id === 'service').map((s: { status: string }) => s.status),
          ['skipped', 'skipped'],
          'without --simulate an image gets no firewall or service commands',
        );
        t.same(first.json.commands, []);

        const second = await install(image, '--yes', '--json');
        exitsWith(t, second, 0);
        t.equal(second.json.changed, false);
        t.same(await hashTree(image.root), after, 'the second run changes no byte');
      });
    }
  }
});

interface Refusal {
  name: string;
  code: number;
  message: RegExp;
  setup?: (image: Image) => Promise<void>;
  args?: string[];
  answers?: string;
}

const refusals: Refusal[] = [
  {
    name: 'a missing rules folder is refused with exit 3',
    code: 3,
    message: /rules folder .* was not found/,
    setup: (image) => rm(rulesFolderHost(image), { recursive: true }),
  },
  {
    name: 'a rules folder without v310.pre is refused with exit 3',
    code: 3,
    message: /v310\.pre was not found/,
    setup: (image) => rm(inImage(image.root, `${image.rulesDir}\\v310.pre`)),
  },
  {
    name: 'a missing DCC map is refused with exit 3',
    code: 3,
    message: /map file C:\\sa\\etc\\dcc\\map does not exist/,
    setup: (image) => rm(inImage(image.root, image.map)),
  },
  {
    name: 'an empty DCC map is refused with exit 3',
    code: 3,
    message: /map file C:\\sa\\etc\\dcc\\map is empty/,
    setup: (image) => writeFile(inImage(image.root, image.map), ''),
  },
  {
    name: 'a missing dccproc is refused with exit 3',
    code: 3,
    message: /dccproc C:\\sa\\dccproc\.exe does not exist/,
    setup: (image) => rm(inImage(image.root, 'C:\\sa\\dccproc.exe')),
  },
  {
    name: 'a DCC home on drive D: under --root is refused with exit 2',
    code: 2,
    message: /drive D:/,
    answers: '[dcc]\nhome = D:\\sa\\etc\\dcc\n',
  },
  {
    name: 'a local.cf with a BEGIN marker and no END marker is refused with exit 3',
    code: 3,
    message: /markers are broken.*line 10/,
    setup: async (image) => {
      const local = inImage(image.root, `${image.rulesDir}\\local.cf`);
      await writeFile(local, Buffer.concat([await readFile(local), Buffer.from('# BEGIN kerio-dcc\r\ndcc_home C:\\old\r\n')]));
    },
  },
  {
    name: 'a local.cf with two kerio-dcc blocks is refused with exit 3',
    code: 3,
    message: /more than one kerio-dcc block/,
    setup: async (image) => {
      const local = inImage(image.root, `${image.rulesDir}\\local.cf`);
      const block = '# BEGIN kerio-dcc\r\nuse_dcc 1\r\n# END kerio-dcc\r\n';
      await writeFile(local, Buffer.concat([await readFile(local), Buffer.from(block + block)]));
    },
  },
  {
    name: 'without --yes and without a terminal the install refuses with exit 2 instead of waiting',
    code: 2,
    message: /--yes/,
    args: ['--simulate'],
  },
  {
    name: 'a service name the simulated system does not have is refused with exit 3, naming the service',
    code: 3,
    message: /"KerioConnectX" does not exist/,
    answers: '[kerio]\nservice = KerioConnectX\n',
    setup: (image) => writeSimState(image, simulatedServer(image)),
  },
  {
    name: 'a prompt that is not elevated is refused with exit 3 before anything changes',
    code: 3,
    message: /elevated/,
    setup: (image) => writeSimState(image, simulatedServer(image, [], { elevated: false })),
  },
];

t.test('refusals change nothing and exit with the documented code', async (t) => {
  t.jobs = 2;
  for (const r of refusals) {
    t.test(r.name, async (t) => {
      const image = await makeImage(t);
      if (r.setup) await r.setup(image);
      const args = [...(r.args ?? ['--simulate', '--yes'])];
      if (r.answers) {
        const file = path.join(image.root, '..', `${path.basename(image.root)}.ini`);
        await writeFile(file, r.answers);
        t.teardown(() => rm(file, { force: true }));
        args.push('--answers', file);
      }
      const before = await hashTree(image.root);
      const run = await install(image, ...args);
      exitsWith(t, run, r.code);
      t.match(run.stderr, r.message);
      t.notMatch(run.stderr, /Unexpected error/);
      t.same(await hashTree(image.root), before, 'no byte of the image changed');
    });
  }
});

t.test('a firewall rule with the wrong ports is replaced by exactly one correct rule', async (t) => {
  const image = await makeImage(t);
  await writeSimState(image, simulatedServer(image, [dccRule(RULE_OUT, 'Out', { localPort: 'Any', remotePort: '53' }), dccRule(RULE_IN, 'In')]));
  const run = await install(image, '--simulate', '--yes', '--json');
  exitsWith(t, run, 0);
  const state = await readSimState(image);
  const out = state.firewall.filter((r: any) => r.name === RULE_OUT);
  t.equal(out.length, 1);
  t.same([out[0].localPort, out[0].remotePort, out[0].direction], ['1024-65535', '6277', 'Out']);
  t.equal(state.firewall.length, 2, 'the correct in rule stays as the only other rule');
  t.notOk(
    mutating(run).some((c) => c.args.some((a) => a === `name=${RULE_IN}`)),
    'the correct rule is not touched',
  );
});

t.test('duplicated firewall rules are replaced by exactly one rule each', async (t) => {
  const image = await makeImage(t);
  await writeSimState(
    image,
    simulatedServer(image, [dccRule(RULE_IN, 'In'), dccRule(RULE_IN, 'In'), dccRule(RULE_OUT, 'Out'), dccRule(RULE_OUT, 'Out'), dccRule(RULE_OUT, 'Out')]),
  );
  const run = await install(image, '--simulate', '--yes', '--json');
  exitsWith(t, run, 0);
  const state = await readSimState(image);
  t.same(state.firewall.map((r: any) => r.name).sort(), [RULE_IN, RULE_OUT].sort());
  const again = await install(image, '--simulate', '--yes', '--json');
  t.equal(again.json.changed, false, 'and a second run finds them correct');
});

t.test('--help works on every command and --version prints the package version', async (t) => {
  const runs = await Promise.all([runCli(['--help']), runCli(['--version']), ...Object.keys(COMMANDS).map((name) => runCli([name, '--help']))]);
  const [general, version, ...commands] = runs;
  exitsWith(t, general!, 0);
  for (const name of Object.keys(COMMANDS)) t.match(general!.stdout, name, `general help lists ${name}`);
  exitsWith(t, version!, 0);
  t.equal(version!.stdout.trim(), PACKAGE_VERSION);
  Object.keys(COMMANDS).forEach((name, i) => {
    t.equal(commands[i]!.code, 0, `${name} --help exits 0`);
    t.match(commands[i]!.stdout, `Usage: kerio-dcc ${name}`, `${name} --help shows its usage`);
  });
});
