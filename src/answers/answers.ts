import { dirnameWin, type WinPath } from '../target/target.js';
import type { RestartPolicy } from './schema.js';

/** The resolved answers a run works from: defaults from templates/answers.ini, overlaid by the user's file. */
export interface Answers {
  kerio: { installDir: WinPath | 'auto'; rulesDir: WinPath | 'auto'; service: string };
  dcc: {
    home: WinPath;
    dccproc: WinPath;
    map: WinPath | 'auto';
    profileDirs: WinPath[] | 'auto';
    extraLines: string[];
    /** existing: the DCC client already at dccproc/home; bundled: kerio-dcc provisions the one it ships. */
    client: 'existing' | 'bundled';
    /** The administrator accepted DCC's licence (required for bundled in unattended runs). */
    acceptLicense: boolean;
    /** bundled: the map's servers, each as cdcc's `add` takes it. */
    servers: string[];
  };
  firewall: { enabled: boolean; namePrefix: string };
  service: { restart: boolean; timeoutSeconds: number };
  backup: { dir: WinPath; keep: number };
  /** The scheduled repair (kerio-dcc watch): how often, and when it may restart Kerio; window is HH:MM-HH:MM or ''. */
  watch: { intervalHours: number; restart: RestartPolicy; window: string };
  /** The run log: daily files kept this many days. */
  log: { keepDays: number };
}

/** Where the answers came from, so `--save-answers` and messages can say so. */
export interface LoadedAnswers {
  answers: Answers;
  /** The answers file's path, or null when only defaults are used. */
  file: string | null;
  /** section.key of every key the user's file set (the rest are defaults). */
  given: Set<string>;
  /** The values as written in INI form, defaults included: what --save-answers writes back. */
  raw: Record<string, Record<string, string | boolean | string[]>>;
}

/** The folders the bundled DCC client is placed in: dccproc's folder (with cdcc.exe) and the DCC home (with the map). */
export function dccClientDirs(answers: Answers): WinPath[] {
  return [dirnameWin(answers.dcc.dccproc), answers.dcc.home];
}
