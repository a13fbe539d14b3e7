/**
 * The bytes a Windows console tool prints, as text. `sc`, `netsh`, `net`, `icacls` and `reg`
 * write in the OEM code page of the machine (437 in the US, 850 in Western Europe, 852 in
 * the Czech Republic, 866 in Russia), not in UTF-8: a Kerio folder named `Služby` comes
 * back from `sc qc` as the bytes `53 6C 75 A7 62 79` on a Czech server. PowerShell prints
 * UTF-8, because every script kerio-dcc runs sets `[Console]::OutputEncoding` first
 * (windows/powershell.ts).
 *
 * The code page is read once per run from the registry value every Windows since NT has,
 * and Wine too: `reg query HKLM\SYSTEM\CurrentControlSet\Control\Nls\CodePage /v OEMCP`
 * (`OEMCP    REG_SZ    852`). Not `chcp`: it reports the console of the caller, and a
 * process without a console (a scheduled task, or any program under Wine) gets 0.
 * The decoding itself is iconv-lite's (a maintained library with every OEM code page).
 * The live runner and the simulation both go through `decodeResult`, so `--simulate` runs
 * the same decoder on the same bytes as a real server.
 */
import iconv from 'iconv-lite';
import { joinWin, type WinPath } from '../target/target.js';
import type { CommandRequest, CommandResult } from './runner.js';

/** What a program's output is written in: the machine's OEM code page, or UTF-8 (PowerShell as kerio-dcc starts it). */
export type OutputEncoding = 'oem' | 'utf8';

/** A finished process before its output is decoded. */
export interface RawResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
  timedOut: boolean;
}

export const CODEPAGE_KEY = 'HKLM\\SYSTEM\\CurrentControlSet\\Control\\Nls\\CodePage';

/** The console's code page when the registry cannot be read: what US Windows uses. */
export const FALLBACK_OEM_CODE_PAGE = 437;

/** `reg.exe query ... /v OEMCP`, by absolute path under the system root. */
export function oemCodePageRequest(systemRoot: WinPath): CommandRequest {
  return { program: joinWin(systemRoot, 'System32', 'reg.exe'), args: ['query', CODEPAGE_KEY, '/v', 'OEMCP'], mutates: false };
}

/** The number from reg's `    OEMCP    REG_SZ    852` line (its words are not translated), or null. */
export function parseOemCodePage(stdout: string): number | null {
  const m = /^\s*OEMCP\s+REG_SZ\s+(\d+)\s*$/m.exec(stdout);
  const cp = m ? Number(m[1]) : NaN;
  return Number.isInteger(cp) && cp > 0 && knownCodePage(cp) ? cp : null;
}

export function knownCodePage(codePage: number): boolean {
  return codePage === 65001 || iconv.encodingExists(`cp${codePage}`);
}

function encodingName(codePage: number | 'utf8'): string {
  if (codePage === 'utf8' || codePage === 65001) return 'utf8';
  return knownCodePage(codePage) ? `cp${codePage}` : `cp${FALLBACK_OEM_CODE_PAGE}`;
}

export function decodeBytes(bytes: Buffer, codePage: number | 'utf8'): string {
  return iconv.decode(bytes, encodingName(codePage));
}

/** Text as a tool would print it in this code page; a character the code page lacks becomes `?`, as on Windows. */
export function encodeText(text: string, codePage: number | 'utf8'): Buffer {
  return iconv.encode(text, encodingName(codePage));
}

/** One process's output as text: OEM output in the machine's code page (asked only when needed), UTF-8 as UTF-8. */
export async function decodeResult(raw: RawResult, encoding: OutputEncoding, oemCodePage: () => Promise<number | 'utf8'>): Promise<CommandResult> {
  const codePage = encoding === 'utf8' ? 'utf8' : await oemCodePage();
  return { exitCode: raw.exitCode, stdout: decodeBytes(raw.stdout, codePage), stderr: decodeBytes(raw.stderr, codePage), timedOut: raw.timedOut };
}

/** Asks for the code page at most once; a failed or unreadable answer gives the fallback. */
export function codePageOnce(ask: () => Promise<RawResult>): () => Promise<number> {
  let found: Promise<number> | null = null;
  return () =>
    (found ??= ask().then(
      (raw) => (raw.exitCode === 0 ? parseOemCodePage(raw.stdout.toString('latin1')) : null) ?? FALLBACK_OEM_CODE_PAGE,
      () => FALLBACK_OEM_CODE_PAGE,
    ));
}
