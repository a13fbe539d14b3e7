// The fault-injection suite for `backups --secure` (issue 14): it fails or kills the run at
// every filesystem operation and command it reaches (src/fault.ts), and checks that the
// state folder ends either as it was (and the exit code says so) or safe (exit 0), and that
// running the command again always finishes the job.
import { existsSync } from 'node:fs';
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import type { Image } from '../src/demo/image.js';
import { SIMULATED_STATE_PATH, loadSimState, saveSimState } from '../src/system/simulated.js';
import { PROGRAMDATA_CHILD_SDDL, simulatedSddl } from '../src/system/simulated/acl.js';
import { inImage, kerioOnImage, makeImage, simState, tempDir, type CliResult } from './helpers/cli.js';
import { faultPointsOf } from './helpers/faults.js';

type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

t.setTimeout(15 * 60_000);
const STATE = 'C:\\ProgramData\\kerio-dcc';
const SAFE = 'O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)';
const LOCK = `${STATE}\\backups\\kerio-dcc.lock`;
const KILLED = -1;

const kerio = (img: Image, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> => kerioOnImage(img, args, env);

/** The state folder's owner and DACL as the simulated system has them. */
async function folderSddl(img: Image): Promise<string> {
  const state = await loadSimState(inImage(img.root, SIMULATED_STATE_PATH));
  return state ? simulatedSddl(state, STATE) : PROGRAMDATA_CHILD_SDDL;
}

/** An installed server whose state folder the previous version made (no record of securing), with a file a user dropped in it. */
async function previousVersion(t: Tap): Promise<Image> {
  const img = await makeImage(t, {}, 'kerio-dcc-fault-');
  const install = await kerio(img, ['install', '--yes']);
  if (install.code !== 0) throw new Error(`install failed: ${install.json?.error?.message}`);
  const state = await simState(img);
  delete state.acls;
  await saveSimState(inImage(img.root, SIMULATED_STATE_PATH), state);
  await writeFile(inImage(img.root, `${STATE}\\notes.txt`), 'left here by someone\r\n');
  return img;
}

async function copyOf(t: Tap, from: Image): Promise<Image> {
  const root = await tempDir(t, 'kerio-dcc-fault-');
  await cp(from.root, root, { recursive: true });
  return { ...from, root };
}

t.test('backups --secure that fails or is killed at any point leaves the folder as it was or safe, and a second run finishes it', async (t) => {
  const base = await previousVersion(t);
  t.equal(await folderSddl(base), PROGRAMDATA_CHILD_SDDL, 'before: the inherited, unsafe ACL');

  const counting = await copyOf(t, base);
  const log = path.join(await tempDir(t), 'points.log');
  const count = await kerio(counting, ['backups', '--secure', '--yes'], { KERIO_DCC_FAULT: 'count', KERIO_DCC_FAULT_LOG: log });
  t.equal(count.code, 0, 'the counting run secures the folder', { error: count.json?.error });
  t.equal(await folderSddl(counting), SAFE, 'after: the safe ACL');
  const points = faultPointsOf(await readFile(log, 'utf8'), counting.root);
  t.ok(
    points.some((p) => /set-acl|EncodedCommand/.test(p.label)) && points.some((p) => p.label.includes('icacls.exe')),
    'the points include the Set-Acl and icacls commands',
  );
  t.comment(`backups --secure: ${points.length} fault points`);

  t.jobs = 3;
  for (const mode of ['throw', 'kill'] as const) {
    for (const point of points) {
      t.test(`${mode} at point ${point.n} (${point.label.slice(0, 120)})`, async (t) => {
        const img = await copyOf(t, base);
        const faulted = await kerio(img, ['backups', '--secure', '--yes'], { KERIO_DCC_FAULT: `${point.n}:${mode}` });
        const sddl = await folderSddl(img);
        t.ok(sddl === PROGRAMDATA_CHILD_SDDL || sddl === SAFE, 'the folder is as it was or safe, nothing between', { sddl });
        if (mode === 'throw') {
          if (sddl === SAFE) t.equal(faulted.code, 0, 'safe: exit 0', { error: faulted.json?.error });
          else {
            t.ok([1, 3, 4].includes(faulted.code), `as it was: exit 1, 3 or 4 (got ${faulted.code})`, { error: faulted.json?.error });
            t.match(faulted.json?.error?.message, new RegExp(`injected fault at point ${point.n}\\b`), 'the message gives the cause');
          }
          // A lock that could not be removed is left for the next run to take over (fault-injection.test.ts proves the take-over).
          if (point.label.startsWith('lock release ')) t.ok(existsSync(inImage(img.root, LOCK)), 'the lock it failed to remove is left');
          else t.notOk(existsSync(inImage(img.root, LOCK)), 'the lock was released');
        } else {
          t.equal(faulted.code, KILLED, 'the run was killed at that point');
        }
        // Whatever happened, doing it again finishes the job and the server is usable.
        const again = await kerio(img, ['backups', '--secure', '--yes']);
        t.equal(again.code, 0, 'backups --secure --yes again exits 0', { error: again.json?.error });
        t.equal(await folderSddl(img), SAFE, 'and the folder is safe');
        const status = await kerio(img, ['status']);
        t.equal(status.code, 0, 'status then finds everything in order, no interrupted run', {
          checks: status.json?.data?.checks?.filter((c: { ok: boolean }) => c.ok === false),
        });
        const install = await kerio(img, ['install', '--yes']);
        t.equal(install.code, 0, 'and install runs', { error: install.json?.error });
      });
    }
  }
});
