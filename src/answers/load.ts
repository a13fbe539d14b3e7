import { readFile, stat } from 'node:fs/promises';
import ini from 'ini';
import { AnswersError, UsageError, errnoCode } from '../errors.js';
import { readTemplate } from '../templates.js';
import type { Answers, LoadedAnswers } from './answers.js';
import { SCHEMA, checkValue, type RawValue } from './schema.js';
import { unsafeSettings } from '../patch/localCf.js';
import { joinWin, normalizeWin } from '../target/target.js';

const MAX_ANSWERS_BYTES = 256 * 1024;

/** Where each section and key stands in the file, for messages that name the line. */
interface Located {
  sections: Map<string, number>;
  keys: Map<string, number[]>;
  /** section.key of values that carried an unescaped ; or # (ini drops the rest as a comment). */
  inlineComments: Set<string>;
}

function locate(text: string): Located {
  const sections = new Map<string, number>();
  const keys = new Map<string, number[]>();
  const inlineComments = new Set<string>();
  let section = '';
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    const lineNo = index + 1;
    if (line === '' || line.startsWith(';') || line.startsWith('#')) return;
    const header = /^\[(.*)\]$/.exec(line);
    if (header) {
      section = header[1]!.trim();
      if (!sections.has(section)) sections.set(section, lineNo);
      return;
    }
    const eq = line.indexOf('=');
    const key = (eq === -1 ? line : line.slice(0, eq)).trim().replace(/\[\]$/, '');
    const id = `${section}.${key}`;
    keys.set(id, [...(keys.get(id) ?? []), lineNo]);
    const value = eq === -1 ? '' : line.slice(eq + 1).trim();
    // ini keeps ; and # inside a quoted value; elsewhere it drops the rest of the line.
    if (!value.startsWith('"') && /(^|[^\\])[;#]/.test(value)) inlineComments.add(id);
  });
  return { sections, keys, inlineComments };
}

function parseIni(text: string): Record<string, Record<string, RawValue>> {
  return ini.parse(text) as Record<string, Record<string, RawValue>>;
}

function defaults(): Record<string, Record<string, RawValue>> {
  return parseIni(readTemplate('answers.ini').toString('utf8'));
}

/** Reads and checks an answers file; every problem is reported at once (exit 2), nothing is changed. */
export async function loadAnswers(file: string | null): Promise<LoadedAnswers> {
  const merged = defaults();
  const given = new Set<string>();
  if (file === null) return { answers: toAnswers(merged), file: null, given, raw: merged };

  let bytes: Buffer;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new UsageError(`The answers file ${file} is not a file.`, 'Give the path of an .ini file to --answers.');
    if (info.size > MAX_ANSWERS_BYTES) {
      throw new UsageError(
        `The answers file ${file} is ${info.size} bytes; an answers file is at most ${MAX_ANSWERS_BYTES} bytes.`,
        'Is this the right file? `kerio-dcc answers` prints a template.',
      );
    }
    bytes = await readFile(file);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const code = errnoCode(err);
    throw new UsageError(
      `Cannot read the answers file ${file}${code === 'ENOENT' ? ': it does not exist' : code ? ` (${code})` : ''}.`,
      'Check the path given to --answers; `kerio-dcc answers > dcc.ini` writes a template to start from.',
    );
  }
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // Notepad saves a BOM; it is harmless here.
  if (text.includes('\u0000') || text.includes('\ufffd')) {
    throw new AnswersError(file, ['the file is not UTF-8 text (saved as UTF-16 or binary?); save it as UTF-8 or ANSI']);
  }

  const where = locate(text);
  const parsed = parseIni(text);
  const problems: string[] = [];
  const at = (id: string) => {
    const line = where.keys.get(id)?.[0] ?? where.sections.get(id);
    return line === undefined ? id : `${id} (line ${line})`;
  };

  for (const [section, values] of Object.entries(parsed)) {
    const spec = SCHEMA[section];
    if (typeof values !== 'object' || values === null || Array.isArray(values)) {
      problems.push(`${at(`.${section}`)}: a key outside any [section]; put it under its section`);
      continue;
    }
    if (!spec) {
      problems.push(
        `${at(section)}: unknown section [${section}] (known: ${Object.keys(SCHEMA)
          .map((s) => `[${s}]`)
          .join(' ')})`,
      );
      continue;
    }
    for (const [key, raw] of Object.entries(values)) {
      const id = `${section}.${key}`;
      const type = spec[key];
      if (!type) {
        problems.push(`${at(id)}: unknown key "${key}" in [${section}] (known: ${Object.keys(spec).join(', ')})`);
        continue;
      }
      const lines = where.keys.get(id) ?? [];
      if (lines.length > 1 && !Array.isArray(raw)) {
        problems.push(`${at(id)}: given ${lines.length} times (lines ${lines.join(', ')}); keep one`);
        continue;
      }
      if (where.inlineComments.has(id) && (type.startsWith('path') || type === 'rule-name')) {
        problems.push(`${at(id)}: the value has a ; or #, and the rest of the line would be dropped as a comment; write \\; or \\# if it belongs to the value`);
        continue;
      }
      const checked = checkValue(type, raw);
      if (!checked.ok) {
        problems.push(`${at(id)}: ${checked.problem}`);
        continue;
      }
      merged[section]![key] = raw;
      given.add(id);
    }
  }
  if (problems.length === 0) {
    const answers = toAnswers(merged);
    problems.push(...crossChecks(answers).map(([id, problem]) => `${at(id)}: ${problem}`));
    if (problems.length === 0) return { answers, file, given, raw: merged };
  }
  throw new AnswersError(file, problems);
}

function value<T>(merged: Record<string, Record<string, RawValue>>, section: string, key: string): T {
  const type = SCHEMA[section]![key]!;
  const checked = checkValue(type, merged[section]?.[key] ?? '');
  if (!checked.ok) throw new Error(`internal: the default of ${section}.${key} is invalid: ${checked.problem}`);
  return checked.value as T;
}

function toAnswers(m: Record<string, Record<string, RawValue>>): Answers {
  return {
    kerio: { installDir: value(m, 'kerio', 'install_dir'), rulesDir: value(m, 'kerio', 'rules_dir'), service: value(m, 'kerio', 'service') },
    dcc: {
      home: value(m, 'dcc', 'home'),
      dccproc: value(m, 'dcc', 'dccproc'),
      map: value(m, 'dcc', 'map'),
      profileDirs: value(m, 'dcc', 'profile_dirs'),
      extraLines: value(m, 'dcc', 'extra_lines'),
      client: value(m, 'dcc', 'client'),
      acceptLicense: value(m, 'dcc', 'accept_license'),
      servers: value(m, 'dcc', 'servers'),
    },
    firewall: { enabled: value(m, 'firewall', 'enabled'), namePrefix: value(m, 'firewall', 'name_prefix') },
    service: { restart: value(m, 'service', 'restart'), timeoutSeconds: value(m, 'service', 'timeout_seconds') },
    backup: { dir: value(m, 'backup', 'dir'), keep: value(m, 'backup', 'keep') },
    watch: { intervalHours: value(m, 'watch', 'interval_hours'), restart: value(m, 'watch', 'restart'), window: value(m, 'watch', 'window') },
    log: { keepDays: value(m, 'log', 'keep_days') },
  };
}

// SpamAssassin's own path check (Util::untaint_file_path in 4.0.1), minus bytes above 0x7F
// and minus '#', which starts a comment in a config line.
const SPAMASSASSIN_PATH = /^[-_A-Za-z0-9.%=+,/:()@\\][-_A-Za-z0-9.%=+,/:()@\\~ ]*$/;

/** Rules between keys, checked once each key is valid on its own. */
function crossChecks(a: Answers): [string, string][] {
  const problems: [string, string][] = [];
  const keyOf = { home: 'dcc.home', dccproc: 'dcc.dccproc', extraLines: 'dcc.extra_lines' } as const;
  for (const u of unsafeSettings({ home: a.dcc.home, dccproc: a.dcc.dccproc, extraLines: a.dcc.extraLines })) problems.push([keyOf[u.setting], u.problem]);
  if (a.watch.restart === 'window' && a.watch.window === '')
    problems.push(['watch.restart', 'is "window", but [watch] window is not set; give it as HH:MM-HH:MM (e.g. window = 02:00-04:00)']);
  for (const [id, p] of [
    ['dcc.home', a.dcc.home],
    ['dcc.dccproc', a.dcc.dccproc],
  ] as const) {
    if (/[^\x20-\x7e]/.test(p)) {
      problems.push([
        id,
        `"${p}" has non-ASCII characters; SpamAssassin inside Kerio reads local.cf as bytes in the Windows code page and would not find it. Move DCC to an ASCII-only folder such as C:\\sa`,
      ]);
    } else if (!SPAMASSASSIN_PATH.test(p)) {
      problems.push([id, `"${p}" has characters SpamAssassin refuses in paths (allowed: letters, digits, space and - _ . % = + , / : ( ) @ \\ ~)`]);
    }
  }
  if (a.dcc.client === 'bundled' && a.dcc.map !== 'auto' && normalizeWin(a.dcc.map).toLowerCase() !== joinWin(a.dcc.home, 'map').toLowerCase()) {
    problems.push(['dcc.map', `client = bundled makes the map in the DCC home, where dccproc reads it: leave map = auto (${joinWin(a.dcc.home, 'map')})`]);
  }
  if (a.dcc.client === 'bundled' && a.dcc.servers.length === 0)
    problems.push([
      'dcc.servers',
      'client = bundled makes the DCC map from this list, and it is empty: give at least one servers[] = HOST[,PORT] [RTT+N ms] anon',
    ]);
  return problems;
}

/**
 * Sets one answer (from a prompt) as if the answers file had said it; the value is checked
 * like a file's. Returns the problem in words, or null when the value was taken.
 */
export function setAnswer(loaded: LoadedAnswers, id: string, raw: RawValue): string | null {
  const [section, key] = id.split('.') as [string, string];
  const type = SCHEMA[section]?.[key];
  if (!type) throw new Error(`internal: unknown answer ${id}`);
  const checked = checkValue(type, raw);
  if (!checked.ok) return checked.problem;
  const merged = { ...loaded.raw, [section]: { ...loaded.raw[section], [key]: raw } };
  const answers = toAnswers(merged);
  const crossProblem = crossChecks(answers).find(([at]) => at === id);
  if (crossProblem) return crossProblem[1];
  loaded.raw = merged;
  loaded.answers = answers;
  loaded.given.add(id);
  return null;
}

/** The answers the user gave (in the file or at a prompt), as an INI file that replays the same run. */
export function answersIni(loaded: LoadedAnswers): string {
  const out: Record<string, Record<string, RawValue>> = {};
  for (const id of [...loaded.given].sort()) {
    const [section, key] = id.split('.') as [string, string];
    (out[section] ??= {})[key] = loaded.raw[section]![key]!;
  }
  const header =
    '; kerio-dcc answers, saved by kerio-dcc install. Keys not listed take their defaults\n; (kerio-dcc answers prints them all). Replay with: kerio-dcc install --answers THIS_FILE --yes\n\n';
  return header + ini.stringify(out, { whitespace: true });
}
