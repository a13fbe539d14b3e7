import type { Planning } from '../model/context.js';
import { kindOf } from '../fs/files.js';
import { joinWin, type WinPath } from '../target/target.js';
import { readPeBitness, type Bitness } from '../windows/pe.js';
import type { Location } from './locate.js';

export interface ProfileDecision {
  dirs: WinPath[];
  /** The rule that decided, in words for the plan. */
  rule: string;
  kerioBitness: Bitness | null;
  windows64: boolean;
  notes: string[];
}

async function isWindows64(ctx: Planning): Promise<boolean> {
  if (!ctx.target.isImage) {
    const arch = process.env['PROCESSOR_ARCHITEW6432'] ?? process.env['PROCESSOR_ARCHITECTURE'] ?? '';
    if (/64/.test(arch)) return true;
  }
  return (await kindOf(ctx.target.toHost(joinWin(ctx.target.systemRoot, 'SysWOW64')))) === 'dir';
}

/** SpamAssassin runs inside spamserver.exe, so its bitness decides; mailserver.exe stands in when it cannot be read. */
async function kerioBitness(ctx: Planning, location: Location): Promise<{ bitness: Bitness; file: string } | null> {
  for (const exe of [joinWin(location.installDir, 'plugins', 'spamserver.exe'), joinWin(location.installDir, 'mailserver.exe')]) {
    const bitness = await readPeBitness(ctx.target.toHost(exe)).catch(() => null);
    if (bitness) return { bitness, file: exe.slice(location.installDir.length + 1) };
  }
  return null;
}

/** XP/2003 keep profiles in "Documents and Settings" and have no C:\Users. */
async function isLegacyWindows(ctx: Planning): Promise<boolean> {
  const t = ctx.target;
  return (await kindOf(t.toHost('C:\\Documents and Settings'))) === 'dir' && (await kindOf(t.toHost('C:\\Users'))) === null;
}

/**
 * Which `.spamassassin` folder(s) the Kerio service's SpamAssassin reads. Kept as one
 * table of rules so that a wrong inference (see docs/windows-tools.md) is corrected in one place.
 */
export async function decideProfileDirs(ctx: Planning, location: Location): Promise<ProfileDecision> {
  const windows64 = await isWindows64(ctx);
  const read = await kerioBitness(ctx, location);
  const bitness = read?.bitness ?? null;
  const notes: string[] = [];
  const account = location.service?.startName;
  if (account && !/^(LocalSystem|NT AUTHORITY\\SYSTEM)$/i.test(account)) {
    notes.push(
      `the ${location.service!.name} service runs as ${account}, not LocalSystem: set dcc.profile_dirs to that account's profile\\.spamassassin if DCC finds no map`,
    );
  }
  const base = { kerioBitness: bitness, windows64, notes };
  const answered = ctx.answers.dcc.profileDirs;
  if (answered !== 'auto') return { ...base, dirs: answered, rule: 'dcc.profile_dirs in the answers file' };

  const sys = ctx.target.systemRoot;
  const system32 = joinWin(sys, 'System32', 'config', 'systemprofile', '.spamassassin');
  const syswow64 = joinWin(sys, 'SysWOW64', 'config', 'systemprofile', '.spamassassin');
  if (await isLegacyWindows(ctx)) {
    return {
      ...base,
      dirs: ['C:\\Documents and Settings\\Default User\\.spamassassin', system32],
      rule: "Windows XP/2003 layout (no C:\\Users): the Default User profile, as the Kerio how-to says, and LocalSystem's own profile",
    };
  }
  if (!windows64) return { ...base, dirs: [system32], rule: "32-bit Windows: LocalSystem's profile in System32" };
  if (bitness === 'x86') return { ...base, dirs: [syswow64], rule: `32-bit Kerio (${read!.file}) on 64-bit Windows: WOW64 redirects its profile to SysWOW64` };
  if (bitness === 'x64' || bitness === 'arm64')
    return { ...base, dirs: [system32], rule: `64-bit Kerio (${read!.file}, ${bitness}) on 64-bit Windows: LocalSystem's profile in System32` };
  return {
    ...base,
    dirs: [system32, syswow64],
    rule: 'could not read the bitness of spamserver.exe or mailserver.exe on 64-bit Windows: both System32 and SysWOW64 profiles',
  };
}
