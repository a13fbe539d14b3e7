// A Wine prefix set up for the live Windows path: Kerio laid out (in a given locale and folder),
// kerio-dcc.exe in C:\Program Files\kerio-dcc, the stand-ins of standins.ts in place of Wine's
// stub tools, and their broker answering with the simulation's handlers on a state file of its
// own. Used by the live tests in test/windows/.
import { copyFile, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';
import { buildImage } from '../../../src/demo/image.js';
import { loadSimState, saveSimState, type SimState } from '../../../src/system/simulated.js';
import { withStateFolderSecured } from '../../../src/system/simulated/acl.js';
import { EXE, runExe, type ExeRun } from './exe.js';
import { installStandins, prefixHost, STANDIN_DLL_OVERRIDES, StandinBroker } from './standins.js';
import { WinePrefix } from './wine.js';

export const TOOL_DIR = 'C:\\Program Files\\kerio-dcc';
export const TOOL = `${TOOL_DIR}\\kerio-dcc.exe`;
export const WORK = 'C:\\kerio-dcc-live';
export const SERVICE = 'KerioMailServer';
const DEFAULT_KERIO = 'C:\\Program Files (x86)\\Kerio\\MailServer';

export interface Locale {
  name: string;
  locale: string;
  codePage: number;
  /** Where Kerio is installed in this prefix. */
  kerio: string;
  /** The words the tools print (recordings.ts has English and German). */
  language: SimState['language'];
  /** false: PowerShell's firewall cmdlets fail and netsh's words are read instead. */
  netSecurity: boolean;
}

export const ENGLISH: Locale = { name: 'English', locale: 'en_US.UTF-8', codePage: 437, kerio: DEFAULT_KERIO, language: 'en', netSecurity: true };

export interface LiveServer {
  wine: WinePrefix;
  broker: StandinBroker;
  locale: Locale;
  statePath: string;
  rules: string;
  /** Runs kerio-dcc.exe with these arguments (and the answers file, once there is one). */
  exe: (args: string[]) => Promise<ExeRun>;
  /** Once set, every later run gets `--answers` naming it. */
  answers: string | null;
}

/** A prefix in the locale, with Kerio, DCC, kerio-dcc.exe and the stand-ins in place, and the broker answering them. */
export async function liveServer(t: Test, locale: Locale, standin: string): Promise<LiveServer> {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'kerio-dcc-live-'));
  t.teardown(() => rm(scratch, { recursive: true, force: true }));
  const statePath = path.join(scratch, 'standin-state.json');
  // The ACL tools look at the prefix's files; its drive is known once the prefix exists.
  let driveC = '';
  const broker = await StandinBroker.start(
    statePath,
    () => {
      throw new Error('the state is written before the first run');
    },
    prefixHost(() => driveC),
  );
  t.teardown(() => broker.close());
  const wine = await WinePrefix.create({ locale: locale.locale, dllOverrides: STANDIN_DLL_OVERRIDES, env: { KERIO_DCC_STANDIN_PORT: String(broker.port) } });
  t.teardown(() => wine.dispose());
  driveC = wine.driveC;

  const staging = path.join(scratch, 'image');
  await buildImage(staging, { windows64: true, kerioBitness: 'x86', eol: 'crlf' });
  await wine.mergeIntoDriveC(staging);
  if (locale.kerio !== DEFAULT_KERIO) {
    const to = await wine.hostPath(locale.kerio);
    await mkdir(path.dirname(to), { recursive: true });
    await rename(await wine.hostPath(DEFAULT_KERIO), to);
  }
  const tool = await wine.hostPath(TOOL);
  await mkdir(path.dirname(tool), { recursive: true });
  await copyFile(EXE, tool);
  await mkdir(await wine.hostPath(WORK), { recursive: true });
  await installStandins(wine, standin);

  const oemcp = await wine.run(['reg', 'query', 'HKLM\\System\\CurrentControlSet\\Control\\Nls\\CodePage', '/v', 'OEMCP']);
  t.match(
    oemcp.stdout,
    new RegExp(`OEMCP\\s+REG_SZ\\s+${locale.codePage}\\b`),
    `the prefix's OEM code page is ${locale.codePage} (is ${locale.locale} generated? see .ci/run)`,
  );

  // The state folder is as kerio-dcc makes it, administrators only: its Get-Acl answer comes from the recording.
  await saveSimState(
    statePath,
    withStateFolderSecured<SimState>({
      schema: 1,
      elevated: true,
      language: locale.language,
      services: {
        [SERVICE]: {
          state: 4,
          binaryPath: `"${locale.kerio}\\mailserver.exe"`,
          startName: 'LocalSystem',
          stopHangs: false,
          startFails: false,
          displayName: 'Kerio Connect',
        },
      },
      firewall: [],
      ...(locale.netSecurity ? {} : { netSecurity: false }),
    }),
  );
  let runs = 0;
  const server: LiveServer = {
    wine,
    broker,
    locale,
    statePath,
    rules: `${locale.kerio}\\plugins\\spamassassin\\rules`,
    answers: null,
    exe: (args) => runExe(wine, TOOL, WORK, `${WORK}\\run-${++runs}`, server.answers ? [...args, '--answers', server.answers] : args),
  };
  return server;
}

/** What a run printed, for a failing assertion's diagnostics. */
export function seen(run: ExeRun): { stdout: string; stderr: string } {
  return { stdout: run.stdout, stderr: run.stderr };
}

/** The stand-ins' state now: services, firewall rules, elevation. */
export async function standinState(server: LiveServer): Promise<SimState> {
  const s = await loadSimState(server.statePath);
  if (!s) throw new Error('the stand-ins lost their state');
  return s;
}

export async function editStandinState(server: LiveServer, edit: (s: SimState) => void): Promise<void> {
  const s = await standinState(server);
  edit(s);
  await saveSimState(server.statePath, s);
}
