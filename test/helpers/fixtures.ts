import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root: this file lives in test/helpers/. */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Real SpamAssassin releases whose rule folders the tests read in place (never copied into the project). */
export const SA_VERSIONS = ['3.2.5', '3.3.2', '4.0.1'] as const;
export type SaVersion = (typeof SA_VERSIONS)[number];

const FIXTURES = path.resolve(projectRoot, '..', 'shared', 'fixtures', 'spamassassin');

function isDir(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory();
}

/** The fixture's rules folder (local.cf, v310.pre, *.cf as shipped), or null when it is not there. */
export function fixtureRulesDir(version: SaVersion): string | null {
  const dir = path.join(FIXTURES, version, 'rules');
  return isDir(dir) && existsSync(path.join(dir, 'v310.pre')) ? dir : null;
}

/** Why a fixture test is skipped, and what to put where to run it. */
export function missingFixtureMessage(version: SaVersion): string {
  const dir = path.join(FIXTURES, version, 'rules');
  return `SpamAssassin ${version} rules are not at ${dir}: put that release's rules folder (local.cf, v310.pre, *.cf) there to run this test`;
}

export interface SystemSpamAssassin {
  /** The spamassassin command. */
  bin: string;
  /** Where the installed engine keeps its shipped rules and its site config. */
  rulesDir: string;
  siteConfigDir: string;
  /** The DCC plugin's source, which says how dccproc is run and read. */
  dccPlugin: string;
}

export const SPAMASSASSIN_MISSING = "install Debian's spamassassin: apt-get install -y spamassassin";

/** Debian's installed SpamAssassin, or null when any part of it is missing. */
export function systemSpamAssassin(): SystemSpamAssassin | null {
  const found: SystemSpamAssassin = {
    bin: '/usr/bin/spamassassin',
    rulesDir: '/usr/share/spamassassin',
    siteConfigDir: '/etc/spamassassin',
    dccPlugin: '/usr/share/perl5/Mail/SpamAssassin/Plugin/DCC.pm',
  };
  const present = existsSync(found.bin) && existsSync(found.dccPlugin) && isDir(found.rulesDir) && isDir(found.siteConfigDir);
  return present ? found : null;
}

/** The file as Kerio might keep it on Windows: every LF made CRLF (existing CRLFs kept). */
export function crlfVariant(bytes: Buffer): Buffer {
  return Buffer.from(bytes.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

/** The file as Notepad might save it: a UTF-8 byte-order mark in front. */
export function bomVariant(bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]);
}

/** The file's lines, each with its own terminator, so comparisons see line endings too. */
export function linesOf(bytes: Buffer): string[] {
  return bytes
    .toString('latin1')
    .split(/(?<=\n)/)
    .filter((l) => l !== '');
}

/** Indexes where two equally long line arrays differ (null when the lengths differ). */
export function differingIndexes(before: string[], after: string[]): number[] | null {
  if (before.length !== after.length) return null;
  return before.flatMap((line, i) => (line === after[i] ? [] : [i]));
}

/** A file's bytes from text written one char per byte, as the patchers see it. */
export function fileBytes(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}
