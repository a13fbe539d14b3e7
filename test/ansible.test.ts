import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { joinWin } from '../src/target/target.js';
import { BIN, PROJECT, hashTree, inImage, makeImage, tempDir } from './helpers/cli.js';

// Each test works on its own image and Ansible home; a playbook run is mostly Python start-up: two at a time.
t.jobs = 2;

const EXAMPLE = path.join(PROJECT, 'examples', 'ansible');
// The demo image is 32-bit Kerio on 64-bit Windows: WOW64 sends its profile to SysWOW64.
const PROFILE = 'C:\\Windows\\SysWOW64\\config\\systemprofile\\.spamassassin';
// Where local-install.yml puts the answers file: the image's C:\ProgramData\kerio-dcc\dcc.ini.
const ANSWERS_IN_IMAGE = 'C:\\ProgramData\\kerio-dcc\\dcc.ini';

function onPath(program: string): string | null {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  return null;
}

const ANSIBLE_PLAYBOOK = onPath('ansible-playbook');
const SKIP = ANSIBLE_PLAYBOOK ? false : 'ansible-playbook is not installed (Debian: apt-get install ansible), so the Ansible example is not run';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(program: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { cwd: EXAMPLE, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Ansible confined to a temp folder: its home, temp files and config, so nothing lands in the real home. */
async function ansibleEnv(t: Test): Promise<NodeJS.ProcessEnv> {
  const dir = await tempDir(t, 'kerio-dcc-ansible-');
  const home = path.join(dir, 'home');
  await mkdir(home);
  // An empty config file: no /etc/ansible/ansible.cfg or ./ansible.cfg changes what is tested.
  const config = path.join(dir, 'ansible.cfg');
  await writeFile(config, '');
  return {
    ...process.env,
    HOME: home,
    ANSIBLE_HOME: path.join(dir, 'ansible-home'),
    ANSIBLE_LOCAL_TEMP: path.join(dir, 'local-tmp'),
    ANSIBLE_REMOTE_TEMP: path.join(dir, 'remote-tmp'),
    ANSIBLE_CONFIG: config,
    ANSIBLE_STDOUT_CALLBACK: 'json',
    ANSIBLE_RETRY_FILES_ENABLED: 'false',
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_INVENTORY_UNPARSED_FAILED: 'true',
    // tap's process tracker rides in NODE_OPTIONS and would load into every kerio-dcc run.
    NODE_OPTIONS: '',
  };
}

interface TaskResult {
  name: string;
  result: Record<string, any>;
}

interface PlayRun extends Run {
  /** The play recap for localhost: ok, changed, failures, rescued... */
  recap: Record<string, number>;
  tasks: TaskResult[];
}

/** Runs a local-*.yml playbook on localhost with the json callback, and reads its recap and task results. */
async function playbook(env: NodeJS.ProcessEnv, file: string, varsFile: string, ...extra: string[]): Promise<PlayRun> {
  const result = await run(ANSIBLE_PLAYBOOK!, ['-i', 'localhost,', file, '-e', `@${varsFile}`, ...extra], env);
  let report: any;
  try {
    report = JSON.parse(result.stdout);
  } catch {
    throw new Error(`ansible-playbook ${file} printed no JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
  const tasks: TaskResult[] = (report.plays ?? []).flatMap((play: any) =>
    (play.tasks ?? []).map((task: any) => ({ name: String(task.task.name).replace(/^kerio_dcc : /, ''), result: task.hosts?.localhost ?? {} })),
  );
  return { ...result, recap: report.stats?.localhost ?? {}, tasks };
}

function task(play: PlayRun, name: string): Record<string, any> {
  const found = play.tasks.find((x) => x.name === name);
  if (!found) throw new Error(`the play ran no task "${name}"; it ran: ${play.tasks.map((x) => x.name).join(', ')}`);
  return found.result;
}

/** The message the play failed with: the last failed task's. */
function failureMessage(play: PlayRun): string {
  return String([...play.tasks].reverse().find((x) => x.result['failed'])?.result['msg'] ?? '');
}

/** An extra-vars file for the local playbooks: the image, this checkout's CLI, and answers. */
async function varsFile(t: Test, image: string, vars: Record<string, unknown>): Promise<string> {
  const dir = await tempDir(t, 'kerio-dcc-ansible-vars-');
  const file = path.join(dir, 'vars.json');
  await writeFile(file, JSON.stringify({ kerio_dcc_image: image, kerio_dcc_cli: [process.execPath, BIN], ...vars }));
  return file;
}

// A ; and a # would be cut off as an INI comment unless the template escapes them.
const FLEET_ANSWERS = {
  kerio_dcc_answers: {
    dcc: { extra_lines: ['dcc_timeout 10'] },
    firewall: { enabled: true, name_prefix: 'Kerio DCC #1; fleet' },
    backup: { keep: 5 },
  },
};

t.test('the install playbook turns DCC on, a second run changes nothing, and the rollback playbook restores the server', { skip: SKIP }, async (t) => {
  const env = await ansibleEnv(t);
  const img = await makeImage(t);
  const rules = inImage(img.root, img.rulesDir);
  const before = await hashTree(rules);
  const vars = await varsFile(t, img.root, FLEET_ANSWERS);

  await t.test('the first run reports changed and status passes', async (t) => {
    const play = await playbook(env, 'local-install.yml', vars);
    t.equal(play.code, 0, 'ansible-playbook exits 0', { message: failureMessage(play), stderr: play.stderr });
    t.equal(play.recap['failures'], 0, 'no task failed');
    t.ok((play.recap['changed'] ?? 0) > 0, 'the recap counts changes');
    const install = task(play, 'kerio-dcc install');
    t.equal(install['changed'], true, 'the install task is changed, as its JSON report said');
    const report = JSON.parse(install['stdout']);
    t.equal(report.schema, 1, 'the install task read a schema 1 report');
    t.equal(task(play, 'kerio-dcc status')['rc'], 0, 'kerio-dcc status ran after install and passed');
    const netshNames = report.commands
      .filter((c: any) => c.mutates)
      .flatMap((c: any) => c.args)
      .filter((a: string) => a.startsWith('name='));
    t.ok(netshNames.includes('name=Kerio DCC #1; fleet (UDP 6277 out)'), 'a name_prefix with ; and # reached kerio-dcc whole', { netshNames });
    const localCf = await readFile(path.join(rules, 'local.cf'), 'latin1');
    t.match(localCf, /^dcc_timeout 10\r?$/m, 'extra_lines from the variables are in local.cf');
  });

  await t.test('the second run changes nothing (changed=0 in the recap)', async (t) => {
    const afterFirst = await hashTree(rules);
    const play = await playbook(env, 'local-install.yml', vars);
    t.equal(play.code, 0, 'ansible-playbook exits 0', { message: failureMessage(play), stderr: play.stderr });
    t.equal(play.recap['changed'], 0, 'the recap counts no change');
    t.equal(task(play, 'kerio-dcc install')['changed'], false, 'the install task is ok, not changed');
    t.same(await hashTree(rules), afterFirst, 'the rules folder is untouched');
  });

  await t.test('the rollback playbook restores the rules folder byte for byte', async (t) => {
    const play = await playbook(env, 'local-rollback.yml', vars);
    t.equal(play.code, 0, 'ansible-playbook exits 0', { message: failureMessage(play), stderr: play.stderr });
    t.equal(play.recap['changed'], 1, 'the rollback task is changed');
    t.same(await hashTree(rules), before, 'the rules folder is as it was before the first run');
    await t.rejects(stat(inImage(img.root, joinWin(PROFILE, 'map'))), { code: 'ENOENT' }, 'the map copy in the profile folder is gone');
  });

  await t.test("an audit run (--tags status) fails the host with kerio-dcc status's message once DCC is off", async (t) => {
    const play = await playbook(env, 'local-install.yml', vars, '--tags', 'status');
    t.equal(play.code, 2, 'ansible-playbook exits 2: a host failed');
    t.equal(play.recap['failures'], 1, 'the host is failed');
    t.equal(play.recap['changed'], 0, 'an audit changes nothing');
    t.equal(task(play, 'kerio-dcc status')['rc'], 6, 'kerio-dcc status exited 6 (drift)');
    const message = failureMessage(play);
    t.match(message, /^kerio-dcc status: exit 6 \(DCC is not fully on\)\. DCC is not fully on: /, "the play says which check failed, in kerio-dcc's words");
    t.match(message, 'To fix it, run: kerio-dcc install --answers', 'and how to fix it');
  });
});

t.test("a wrong answer fails the play with kerio-dcc's message, and the server is not changed", { skip: SKIP }, async (t) => {
  const env = await ansibleEnv(t);
  const img = await makeImage(t);
  const before = await hashTree(img.root);
  const vars = await varsFile(t, img.root, { kerio_dcc_answers: { backup: { keep: 'lots' } } });
  const play = await playbook(env, 'local-install.yml', vars);
  t.equal(play.code, 2, 'ansible-playbook exits 2: a host failed');
  t.equal(task(play, 'kerio-dcc install')['rc'], 2, 'kerio-dcc install exited 2 (answers error)');
  const message = failureMessage(play);
  t.match(message, /^kerio-dcc install: exit 2 \(a usage or answers-file error, nothing was changed\)\./, 'the play names the exit code and what it means');
  t.match(message, 'backup.keep (line ', 'and the answers-file line at fault');
  const after = await hashTree(img.root);
  const added = Object.keys(after).filter((p) => !(p in before));
  // The state folder is made by kerio-dcc backups --secure, restricted to administrators (the
  // simulation records that in its state file), and the answers file is put in it.
  t.same(
    added.sort(),
    ['ProgramData/', 'ProgramData/kerio-dcc/', 'ProgramData/kerio-dcc/dcc.ini', 'ProgramData/kerio-dcc/simulated-system.json'].map((p) =>
      p.split('/').join(path.sep),
    ),
    "only the answers file and the simulation's record of the secured folder were written",
  );
  t.same(Object.fromEntries(Object.entries(after).filter(([p]) => p in before)), before, 'nothing else in the image changed');
});

t.test('an answer with a line break is refused before the answers file is written', { skip: SKIP }, async (t) => {
  const env = await ansibleEnv(t);
  const img = await makeImage(t);
  const vars = await varsFile(t, img.root, { kerio_dcc_answers: { dcc: { extra_lines: ['dcc_timeout 10\nuse_dcc 0'] } } });
  const play = await playbook(env, 'local-install.yml', vars);
  t.equal(play.code, 2, 'ansible-playbook exits 2: a host failed');
  t.match(failureMessage(play), 'no section, key or value may contain a line break', 'the play says why');
  await t.rejects(stat(inImage(img.root, ANSWERS_IN_IMAGE)), { code: 'ENOENT' }, 'no answers file was written');
});

t.test('when kerio-dcc cannot start, the play fails and points at kerio_dcc_cli', { skip: SKIP }, async (t) => {
  const env = await ansibleEnv(t);
  const img = await makeImage(t);
  const vars = await varsFile(t, img.root, { kerio_dcc_cli: [process.execPath, path.join(PROJECT, 'bin', 'no-such-kerio-dcc.js')] });
  const play = await playbook(env, 'local-install.yml', vars);
  t.equal(play.code, 2, 'ansible-playbook exits 2: a host failed');
  const message = failureMessage(play);
  // The first kerio-dcc call on a new server makes its state folder (backups --secure).
  t.match(message, /^kerio-dcc backups --secure: kerio-dcc gave no report \(rc 1\)\./, 'the play says kerio-dcc printed no report');
  t.match(message, 'Check that kerio_dcc_cli names kerio-dcc.exe, or node.exe and kerio-dcc', 'and what to check');
});

t.test('the Windows playbooks pass ansible-playbook --syntax-check with the ansible.windows collection', { skip: SKIP }, async (t) => {
  const env = await ansibleEnv(t);
  const check = await run(ANSIBLE_PLAYBOOK!, ['--syntax-check', '-i', 'inventory.example.yml', 'install.yml', 'rollback.yml'], env);
  if (check.code !== 0 && /couldn't resolve module\/action 'ansible\.windows\./.test(check.stderr)) {
    t.plan(
      0,
      "the ansible.windows collection is not installed (Debian's ansible package ships it; ansible-core alone does not), so win_command cannot be resolved",
    );
    return;
  }
  t.equal(check.code, 0, 'syntax-check passes', { stdout: check.stdout, stderr: check.stderr });
  t.match(check.stdout, 'playbook: rollback.yml', 'both playbooks were checked');
});

/** The lines that make up a flow: task names, modules' judging and registering, conditions and tags. */
function flowLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => /^-? ?(name|register|changed_when|failed_when|when|tags|argv|msg|src|dest|path|state):/.test(l))
    .map((l) => l.replace(/\| (win_)?dirname/, '| DIRNAME'));
}

t.test('the local test flavour runs the same flow as the Windows tasks', async (t) => {
  const tasks = path.join(EXAMPLE, 'roles', 'kerio_dcc', 'tasks');
  for (const [windows, local] of [
    ['install.yml', 'local_install.yml'],
    ['rollback.yml', 'local_rollback.yml'],
  ] as const) {
    const windowsLines = flowLines(await readFile(path.join(tasks, windows), 'utf8'));
    t.ok(
      windowsLines.some((l) => l.startsWith('changed_when:')),
      `${windows} judges changed`,
    );
    t.same(flowLines(await readFile(path.join(tasks, local), 'utf8')), windowsLines, `${local} names, judges and registers its tasks as ${windows} does`);
  }
});

t.test("the MSI tasks take the version to expect from the released MSI's name, and where to copy it", { skip: SKIP }, async (t) => {
  const env = await ansibleEnv(t);
  const dir = await tempDir(t, 'kerio-dcc-ansible-msi-');
  const role = path.join(EXAMPLE, 'roles', 'kerio_dcc');
  const play = path.join(dir, 'msi-vars.yml');
  // The role's own defaults and vars, evaluated as the Windows tasks (tasks/package.yml) evaluate them.
  await writeFile(
    play,
    JSON.stringify([
      {
        hosts: 'localhost',
        connection: 'local',
        gather_facts: false,
        vars: { ansible_python_interpreter: '{{ ansible_playbook_python }}' },
        vars_files: [path.join(role, 'defaults', 'main.yml'), path.join(role, 'vars', 'main.yml')],
        tasks: [
          {
            name: 'msi vars',
            'ansible.builtin.debug': {
              msg: '{{ {"version": kerio_dcc_msi_version, "remote": kerio_dcc_msi_remote, "cli": kerio_dcc_cli, "product": kerio_dcc_msi_product_id} }}',
            },
          },
        ],
      },
    ]),
  );
  const result = await run(ANSIBLE_PLAYBOOK!, ['-i', 'localhost,', play, '-e', 'kerio_dcc_msi=/srv/release/kerio-dcc-0.12.3-x64.msi'], env);
  t.equal(result.code, 0, 'the playbook runs', { stderr: result.stderr });
  const msg = JSON.parse(result.stdout).plays[0].tasks[0].hosts.localhost.msg;
  // The ProductCode scripts/release.mjs gives version 0.12.3: a name-based UUID in the wxs's UpgradeCode (Python's uuid5 as the reference).
  const upgradeCode = /UpgradeCode="([0-9A-F-]{36})"/.exec(await readFile(path.join(PROJECT, 'packaging', 'kerio-dcc.wxs'), 'utf8'))![1]!;
  const python = await run(
    'python3',
    ['-c', 'import sys, uuid; print(str(uuid.uuid5(uuid.UUID(sys.argv[1]), sys.argv[2])).upper())', upgradeCode, 'kerio-dcc product 0.12.3'],
    env,
  );
  t.same(
    msg,
    {
      version: '0.12.3',
      remote: 'C:\\Windows\\Temp\\kerio-dcc-0.12.3-x64.msi',
      cli: ['C:\\Program Files\\kerio-dcc\\kerio-dcc.exe'],
      product: `{${python.stdout.trim()}}`,
    },
    "the version from the name, the copy in C:\\Windows\\Temp, the exe to run, and the ProductCode of that version's MSI",
  );
});
