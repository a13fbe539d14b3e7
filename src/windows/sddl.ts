/*
 * Who may write a folder, read as SDDL: the owner and the DACL spelled with SIDs and
 * fixed aliases, the same on every display language. Account names are translated
 * ("VORDEFINIERT\Administratoren") and are never read here: names below serve only to
 * make a message readable.
 */

export const ADMINISTRATORS = 'S-1-5-32-544';
export const LOCAL_SYSTEM = 'S-1-5-18';

/** Owner Administrators; a protected DACL: SYSTEM and Administrators full control, inherited by everything inside. */
export const SAFE_FOLDER_SDDL = 'O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)';

/** SDDL aliases of well-known SIDs that are the same on every machine (MS-DTYP 2.5.1.1). */
const ALIASES: Record<string, string> = {
  AN: 'S-1-5-7',
  AU: 'S-1-5-11',
  BA: 'S-1-5-32-544',
  BG: 'S-1-5-32-546',
  BO: 'S-1-5-32-551',
  BU: 'S-1-5-32-545',
  CG: 'S-1-3-1',
  CO: 'S-1-3-0',
  IU: 'S-1-5-4',
  LS: 'S-1-5-19',
  NS: 'S-1-5-20',
  NU: 'S-1-5-2',
  OW: 'S-1-3-4',
  PS: 'S-1-5-10',
  PU: 'S-1-5-32-547',
  RC: 'S-1-5-12',
  SO: 'S-1-5-32-549',
  SU: 'S-1-5-6',
  SY: 'S-1-5-18',
  WD: 'S-1-1-0',
  AC: 'S-1-15-2-1',
  RD: 'S-1-5-32-555',
  RU: 'S-1-5-32-554',
  NO: 'S-1-5-32-556',
};

/** Names for messages only (English); decisions are made on SIDs. */
const NAMES: Record<string, string> = {
  'S-1-5-32-544': 'BUILTIN\\Administrators',
  'S-1-5-18': 'NT AUTHORITY\\SYSTEM',
  'S-1-5-32-545': 'BUILTIN\\Users',
  'S-1-5-11': 'NT AUTHORITY\\Authenticated Users',
  'S-1-1-0': 'Everyone',
  'S-1-3-0': 'CREATOR OWNER',
  'S-1-3-1': 'CREATOR GROUP',
  'S-1-3-4': 'OWNER RIGHTS',
  'S-1-5-4': 'NT AUTHORITY\\INTERACTIVE',
  'S-1-5-2': 'NT AUTHORITY\\NETWORK',
  'S-1-5-7': 'NT AUTHORITY\\ANONYMOUS LOGON',
  'S-1-5-19': 'NT AUTHORITY\\LOCAL SERVICE',
  'S-1-5-20': 'NT AUTHORITY\\NETWORK SERVICE',
  'S-1-5-32-546': 'BUILTIN\\Guests',
  'S-1-5-32-547': 'BUILTIN\\Power Users',
  'S-1-5-32-551': 'BUILTIN\\Backup Operators',
  'S-1-5-32-549': 'BUILTIN\\Server Operators',
  'S-1-15-2-1': 'ALL APPLICATION PACKAGES',
  'S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464': 'NT SERVICE\\TrustedInstaller',
};

/** The SIDs that may own and write what kerio-dcc trusts. */
const TRUSTED = new Set([ADMINISTRATORS, LOCAL_SYSTEM]);

/** A SID as S-1-...; an alias of a domain-relative SID (DA, DU, LA...) stays as `alias XX`, trusted never. */
export function sidOf(token: string): string {
  if (/^S-1-[0-9-]+$/i.test(token)) return token.toUpperCase();
  return ALIASES[token.toUpperCase()] ?? `alias ${token}`;
}

/** "S-1-5-32-545 (BUILTIN\Users)", or the SID alone for an account this table does not know. */
export function describeSid(sid: string): string {
  const name =
    NAMES[sid] ?? (/^S-1-5-21-\d+-\d+-\d+-500$/.test(sid) ? 'the built-in Administrator account' : /^S-1-5-21-/.test(sid) ? 'a local or domain account' : null);
  return name ? `${sid} (${name})` : sid;
}

// Access rights (MS-DTYP 2.4.3; SDDL rights strings 2.5.1.1). On files and folders the
// letters borrowed from directory objects mean file rights: DC = add file, LC = add
// subfolder, RP = write EA, CR = write attributes. So rights are compared as masks.
const RIGHTS: Record<string, number> = {
  GA: 0x10000000,
  GR: 0x80000000,
  GW: 0x40000000,
  GX: 0x20000000,
  RC: 0x20000,
  SD: 0x10000,
  WD: 0x40000,
  WO: 0x80000,
  RP: 0x10,
  WP: 0x20,
  CC: 0x1,
  DC: 0x2,
  LC: 0x4,
  SW: 0x8,
  LO: 0x80,
  DT: 0x40,
  CR: 0x100,
  FA: 0x1f01ff,
  FR: 0x120089,
  FW: 0x120116,
  FX: 0x1200a0,
  KA: 0xf003f,
  KR: 0x20019,
  KW: 0x20006,
  KX: 0x20019,
};
/** Rights that only read: list/read data, read EA, traverse, read attributes, read control, synchronize, generic read/execute. */
const READ_ONLY = 0x1 | 0x8 | 0x20 | 0x80 | 0x20000 | 0x100000 | 0x80000000 | 0x20000000;
const WRITE_NAMES: [number, string][] = [
  [0x10000000, 'full control (GA)'],
  [0x40000000, 'generic write'],
  [0x2, 'create files'],
  [0x4, 'create folders / append'],
  [0x10, 'write extended attributes'],
  [0x40, 'delete children'],
  [0x100, 'write attributes'],
  [0x10000, 'delete'],
  [0x40000, 'change permissions'],
  [0x80000, 'take ownership'],
  [0x1000000, 'change auditing'],
  [0x2000000, 'maximum allowed'],
];

export interface Ace {
  type: string;
  flags: string[];
  mask: number;
  sid: string;
  /** As written in the SDDL, for messages. */
  text: string;
}

export interface ParsedSddl {
  /** null when the SDDL has no owner part. */
  owner: string | null;
  /** null: no DACL part, or NO_ACCESS_CONTROL (everyone may do anything). */
  dacl: { protected: boolean; aces: Ace[] } | null;
}

function rightsMask(text: string): number | null {
  if (/^0x[0-9a-f]+$/i.test(text)) return Number.parseInt(text, 16);
  if (text.length % 2 !== 0) return null;
  let mask = 0;
  for (let i = 0; i < text.length; i += 2) {
    const bit = RIGHTS[text.slice(i, i + 2).toUpperCase()];
    if (bit === undefined) return null;
    mask |= bit;
  }
  return mask >>> 0;
}

/** The parenthesized ACEs of an ACL, with their nesting respected (a conditional ACE holds parentheses). */
function splitAces(text: string): string[] | null {
  const aces: string[] = [];
  let depth = 0;
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') {
      if (depth === 0) start = i + 1;
      depth++;
    } else if (c === ')') {
      depth--;
      if (depth < 0) return null;
      if (depth === 0) aces.push(text.slice(start, i));
    } else if (depth === 0) return null;
  }
  return depth === 0 ? aces : null;
}

export class SddlError extends Error {}

/** Parses the SDDL of a file or folder (what Get-Acl's .Sddl prints). Throws SddlError on anything it cannot read. */
export function parseSddl(sddl: string): ParsedSddl {
  const text = sddl.trim();
  // Parts start at O:, G:, D:, S: at the top level (outside parentheses).
  const parts: Record<string, string> = {};
  let depth = 0;
  let current: string | null = null;
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (depth === 0 && /[OGDS]/.test(c) && text[i + 1] === ':') {
      // A SID or an alias holds no ':', so each "X:" outside parentheses starts a part.
      if (current !== null) parts[current] = text.slice(from, i);
      current = c;
      from = i + 2;
      i++;
    }
  }
  if (current === null) throw new SddlError(`not an SDDL string: ${JSON.stringify(sddl)}`);
  parts[current] = text.slice(from);
  const owner = parts['O'] === undefined ? null : sidOf(parts['O']);
  let dacl: ParsedSddl['dacl'] = null;
  const d = parts['D'];
  if (d !== undefined && !d.startsWith('NO_ACCESS_CONTROL')) {
    const at = d.indexOf('(');
    const flags = at < 0 ? d : d.slice(0, at);
    if (!/^(P|AI|AR)*$/.test(flags)) throw new SddlError(`unknown DACL flags "${flags}" in ${sddl}`);
    const aceTexts = splitAces(at < 0 ? '' : d.slice(at));
    if (!aceTexts) throw new SddlError(`unbalanced parentheses in ${sddl}`);
    const aces = aceTexts.map((t) => {
      const fields = t.split(';');
      if (fields.length < 6) throw new SddlError(`an entry "(${t})" has fewer than six fields`);
      const mask = rightsMask(fields[2]!);
      if (mask === null) throw new SddlError(`unknown rights "${fields[2]}" in "(${t})"`);
      const flagText = fields[1]!;
      if (flagText.length % 2 !== 0) throw new SddlError(`unknown entry flags "${flagText}"`);
      return { type: fields[0]!.toUpperCase(), flags: flagText.match(/../g)?.map((f) => f.toUpperCase()) ?? [], mask, sid: sidOf(fields[5]!), text: `(${t})` };
    });
    dacl = { protected: flags.includes('P'), aces };
  }
  return { owner, dacl };
}

/** Allow entries (plain, object, callback, resource): everything but deny and audit types. */
function grants(ace: Ace): boolean {
  return !['D', 'OD', 'XD', 'AU', 'AL', 'OU', 'OL', 'ML', 'SP', 'RA', 'XU'].includes(ace.type);
}

export function writeRights(mask: number): string[] {
  return WRITE_NAMES.filter(([bit]) => mask & bit).map(([, name]) => name);
}

export function isWriteMask(mask: number): boolean {
  return ((mask >>> 0) & ~READ_ONLY) !== 0;
}

export interface AclFinding {
  kind: 'owner' | 'inherits' | 'no-dacl' | 'entry';
  sid: string | null;
  /** One sentence for the administrator. */
  text: string;
}

/**
 * Why a folder is not safe to trust, as findings; none when it is owned by Administrators
 * or SYSTEM, does not inherit from its parent, and lets only those two write, delete or
 * change permissions (deny entries are fine). Decided on SIDs only.
 */
export function judgeSddl(sddl: string): AclFinding[] {
  const parsed = parseSddl(sddl);
  const findings: AclFinding[] = [];
  if (parsed.owner === null) findings.push({ kind: 'owner', sid: null, text: 'its owner could not be read' });
  else if (!TRUSTED.has(parsed.owner))
    findings.push({
      kind: 'owner',
      sid: parsed.owner,
      text: `it is owned by ${describeSid(parsed.owner)}, not by Administrators or SYSTEM (an owner can always change its permissions)`,
    });
  if (parsed.dacl === null) {
    findings.push({ kind: 'no-dacl', sid: null, text: 'it has no access list at all, so everyone may write it' });
    return findings;
  }
  const inherited = parsed.dacl.aces.filter((a) => a.flags.includes('ID'));
  if (!parsed.dacl.protected || inherited.length) findings.push({ kind: 'inherits', sid: null, text: 'it inherits permissions from its parent folder' });
  for (const ace of parsed.dacl.aces) {
    if (!grants(ace) || TRUSTED.has(ace.sid) || !isWriteMask(ace.mask)) continue;
    const how = ace.flags.includes('IO') ? ' on what is created inside it' : '';
    findings.push({
      kind: 'entry',
      sid: ace.sid,
      text: `${ace.text} lets ${describeSid(ace.sid)} ${writeRights(ace.mask).join(', ') || `use rights 0x${ace.mask.toString(16)}`}${how}${ace.flags.includes('ID') ? ' (inherited)' : ''}`,
    });
  }
  return findings;
}

// ---------------------------------------------------------------------------- the tools
