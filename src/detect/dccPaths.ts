/**
 * The one decision of which form of `dcc_home` and `dcc_path` goes into local.cf: the path
 * from the answers when SpamAssassin on Windows can hand it to dccproc intact, else its 8.3
 * short name read from the server (windows/shortPath.ts says why). Install and status
 * both ask here, so status never calls the short form drift.
 */
import type { Planning } from '../model/context.js';
import { kindOf } from '../fs/files.js';
import type { DccSettings } from '../patch/localCf.js';
import type { WinPath } from '../target/target.js';
import { commandLineHazard, readShortPath, type ShortPathType } from '../windows/shortPath.js';
import type { Location } from './locate.js';

export type DccPathsDecision =
  | { ok: true; settings: DccSettings; notes: string[] }
  /** unknowable: on an image without --simulate there is no server to read the short name from. */
  | { ok: false; unknowable: boolean; message: string; hint: string };

const NO_SPACES_FOLDER =
  "Move DCC to a folder without spaces, such as the how-to's C:\\sa (dcc.home = C:\\sa\\etc\\dcc, dcc.dccproc = C:\\sa\\dccproc.exe), and set those keys in the answers file.";

/** How SpamAssassin on Windows hands each setting over (Plugin/DCC.pm and Util.pm, 4.0.1). */
const PASSED: Record<string, string> = {
  dcc_home: 'passes dcc_home to dccproc on a command line without quotes',
  dcc_path: 'starts dcc_path (and cdcc beside it, without quotes) through a command line, and older releases do not quote it at all',
};

const lower = (s: string) => s[0]!.toLowerCase() + s.slice(1);

interface PathDecision {
  written: WinPath;
  note: string | null;
}

type Refusal = Extract<DccPathsDecision, { ok: false }>;

async function decide(ctx: Planning, key: string, directive: string, path: WinPath, type: ShortPathType): Promise<PathDecision | Refusal> {
  const hazard = commandLineHazard(path);
  if (hazard === null) return { written: path, note: null };
  const why = `${key} "${path}" has ${hazard}, and SpamAssassin on Windows ${PASSED[directive]}, where it would break apart and DCC would silently do nothing`;
  // Only an existing folder or file has a short name (and the server is asked only about those).
  if ((await kindOf(ctx.target.toHost(path))) !== (type === 'folder' ? 'dir' : 'file')) {
    return {
      ok: false,
      unknowable: false,
      message: `${why}. kerio-dcc writes its 8.3 short name instead, but ${path} is not an existing ${type}, so it has none.`,
      hint: `Unpack DCC there, or: ${lower(NO_SPACES_FOLDER)} Nothing was changed.`,
    };
  }
  if (!ctx.runner) {
    return {
      ok: false,
      unknowable: true,
      message: `${why}. kerio-dcc writes the ${type}'s 8.3 short name instead, but that can only be read from the server itself, and an image (--root without --simulate) has no server to ask.`,
      hint: `Run kerio-dcc on the server itself (or add --simulate), or: ${lower(NO_SPACES_FOLDER)} Nothing was changed.`,
    };
  }
  const answer = await readShortPath(ctx.runner, ctx.target, path, type);
  if (!answer.ok) {
    return {
      ok: false,
      unknowable: false,
      message: `${why}. kerio-dcc writes its 8.3 short name instead, but could not read it (${answer.error}).`,
      hint: `${NO_SPACES_FOLDER} Nothing was changed.`,
    };
  }
  const left = commandLineHazard(answer.shortPath);
  if (left !== null) {
    return {
      ok: false,
      unknowable: false,
      message: `${why}. kerio-dcc writes the 8.3 short name instead, but the server has none for it: it answered "${answer.shortPath}", which still has ${left} (8.3 names are turned off on that volume or for that folder; \`fsutil 8dot3name query ${path.slice(0, 2)}\` shows the setting).`,
      hint: `${NO_SPACES_FOLDER} Nothing was changed.`,
    };
  }
  return {
    written: answer.shortPath,
    note: `${directive} is written as ${answer.shortPath}, the 8.3 short name of ${path} (${key}): SpamAssassin on Windows ${PASSED[directive]}, where a path with ${hazard} would break apart`,
  };
}

/** What local.cf must say for DCC, or why it cannot be said safely. */
export async function decideDccPaths(ctx: Planning, location: Location): Promise<DccPathsDecision> {
  const home = await decide(ctx, 'dcc.home', 'dcc_home', location.dccHome, 'folder');
  if ('ok' in home) return home;
  const dccproc = await decide(ctx, 'dcc.dccproc', 'dcc_path', location.dccproc, 'file');
  if ('ok' in dccproc) return dccproc;
  return {
    ok: true,
    settings: { home: home.written, dccproc: dccproc.written, extraLines: ctx.answers.dcc.extraLines },
    notes: [home.note, dccproc.note].filter((n): n is string => n !== null),
  };
}
