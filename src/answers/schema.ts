import { isWindowsAbsolute } from '../target/target.js';

/**
 * What each answers-file key may hold. Defaults live in templates/answers.ini (the file
 * `kerio-dcc answers` prints), so the documented default and the real one cannot drift;
 * a test checks that both list the same keys.
 */
export type ValueType =
  | 'path'
  | 'path-or-auto'
  | 'path-list-or-auto'
  | 'line-list'
  | 'bool'
  | 'count'
  | 'seconds'
  | 'service-name'
  | 'rule-name'
  | 'dcc-client'
  | 'dcc-server-list'
  | 'hours'
  | 'days'
  | 'restart-policy'
  | 'time-window';

export const SCHEMA: Record<string, Record<string, ValueType>> = {
  kerio: { install_dir: 'path-or-auto', rules_dir: 'path-or-auto', service: 'service-name' },
  dcc: {
    home: 'path',
    dccproc: 'path',
    map: 'path-or-auto',
    profile_dirs: 'path-list-or-auto',
    extra_lines: 'line-list',
    client: 'dcc-client',
    accept_license: 'bool',
    servers: 'dcc-server-list',
  },
  firewall: { enabled: 'bool', name_prefix: 'rule-name' },
  service: { restart: 'bool', timeout_seconds: 'seconds' },
  backup: { dir: 'path', keep: 'count' },
  watch: { interval_hours: 'hours', restart: 'restart-policy', window: 'time-window' },
  log: { keep_days: 'days' },
};

/** When the scheduled repair may restart Kerio: at once, only inside [watch] window, or never (report only). */
export const RESTART_POLICIES = ['now', 'window', 'never'] as const;
export type RestartPolicy = (typeof RESTART_POLICIES)[number];

export type RawValue = string | boolean | string[];

/** A checked value, or the sentence saying why it is not acceptable. */
export type Checked = { ok: true; value: string | boolean | number | string[] } | { ok: false; problem: string };

// Control characters would let a value add lines to local.cf or confuse a command line.
// eslint-disable-next-line no-control-regex -- control characters are exactly what this looks for
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * One line of DCC's map as cdcc's `add` takes it (cdcc(8)): host, optional UDP port (or -),
 * optional RTT adjustment, optional Greylist, then anon or a client-ID with its password.
 */
const DCC_SERVER = /^[A-Za-z0-9][A-Za-z0-9.:-]*(,(\d{1,5}|-))?( RTT[+-]\d{1,4} ms)?( Greylist)?( anon| \d{1,10}( [\x21-\x7e]{1,32})?)?$/;

function checkPath(v: string): string | null {
  if (CONTROL.test(v)) return 'contains a control character (a line break?)';
  if (!isWindowsAbsolute(v)) return `"${v}" is not an absolute Windows path like C:\\folder`;
  if (/[<>"|?*]/.test(v.slice(2))) return `"${v}" contains a character Windows does not allow in paths (< > " | ? *)`;
  return null;
}

function asList(raw: RawValue): string[] {
  const items = Array.isArray(raw) ? raw : [String(raw)];
  return items.map((s) => String(s).trim()).filter((s) => s !== '');
}

export function checkValue(type: ValueType, raw: RawValue): Checked {
  const ok = (value: string | boolean | number | string[]): Checked => ({ ok: true, value });
  const bad = (problem: string): Checked => ({ ok: false, problem });
  const isList = type === 'path-list-or-auto' || type === 'line-list' || type === 'dcc-server-list';
  if (Array.isArray(raw) && !isList) return bad('is given as a list (key[] = ...), but takes one value');
  const text = Array.isArray(raw) ? '' : String(raw).trim();
  switch (type) {
    case 'path': {
      const p = checkPath(text);
      return p ? bad(p) : ok(text);
    }
    case 'path-or-auto': {
      if (text === '' || text.toLowerCase() === 'auto') return ok('auto');
      const p = checkPath(text);
      return p ? bad(p) : ok(text);
    }
    case 'path-list-or-auto': {
      const items = asList(raw);
      if (items.length === 0 || (items.length === 1 && items[0]!.toLowerCase() === 'auto')) return ok('auto');
      for (const item of items) {
        const p = checkPath(item);
        if (p) return bad(p);
      }
      return ok(items);
    }
    case 'line-list': {
      const items = asList(raw);
      for (const item of items)
        if (CONTROL.test(item)) return bad('a line contains a control character (a line break?); give each line as its own `extra_lines[] =`');
      return ok(items);
    }
    case 'bool': {
      if (typeof raw === 'boolean') return ok(raw);
      const b = text.toLowerCase();
      if (['true', 'yes', '1', 'on'].includes(b)) return ok(true);
      if (['false', 'no', '0', 'off'].includes(b)) return ok(false);
      return bad(`"${text}" is not true or false`);
    }
    case 'count':
    case 'seconds': {
      if (!/^\d+$/.test(text)) return bad(`"${text}" is not a whole number`);
      const n = Number(text);
      if (type === 'seconds' && (n < 1 || n > 3600)) return bad(`${n} is not between 1 and 3600 seconds`);
      if (type === 'count' && n > 10000) return bad(`${n} is more than 10000`);
      return ok(n);
    }
    case 'service-name':
      if (!/^[A-Za-z0-9_.-]{1,256}$/.test(text)) return bad(`"${text}" is not a Windows service short name (letters, digits, _ . -)`);
      return ok(text);
    case 'dcc-client':
      if (text !== 'existing' && text !== 'bundled') return bad(`"${text}" is not existing or bundled`);
      return ok(text);
    case 'dcc-server-list': {
      const items = asList(raw).map((s) => s.replace(/\s+/g, ' '));
      for (const item of items)
        if (!DCC_SERVER.test(item))
          return bad(
            `"${item}" is not a DCC server entry as cdcc's add takes it: HOST[,PORT] [RTT+N ms] [anon | CLIENT-ID PASSWORD], e.g. dcc1.dcc-servers.net RTT+1000 ms anon`,
          );
      return ok(items);
    }
    case 'hours':
    case 'days': {
      const max = type === 'hours' ? 168 : 3650;
      if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) return bad(`"${text}" is not a whole number of ${type} from 1 to ${max}`);
      return ok(Number(text));
    }
    case 'restart-policy':
      if (!RESTART_POLICIES.includes(text.toLowerCase() as RestartPolicy)) return bad(`"${text}" is not one of ${RESTART_POLICIES.join(', ')}`);
      return ok(text.toLowerCase());
    case 'time-window': {
      if (text === '') return ok('');
      const m = /^(\d\d):(\d\d)-(\d\d):(\d\d)$/.exec(text);
      if (!m || Number(m[1]) > 23 || Number(m[3]) > 23 || Number(m[2]) > 59 || Number(m[4]) > 59)
        return bad(`"${text}" is not a time window HH:MM-HH:MM (24-hour clock, e.g. 02:00-04:30)`);
      if (m[1] === m[3] && m[2] === m[4]) return bad(`"${text}" starts and ends at the same time`);
      return ok(text);
    }
    case 'rule-name':
      if (text === '' || text.length > 200) return bad('must be 1 to 200 characters');
      if (CONTROL.test(text) || text.includes('"')) return bad('must not contain double quotes or control characters');
      return ok(text);
  }
}
