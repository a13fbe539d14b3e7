// The SDDL parser and the trust verdict (windows/acl.ts), on owner/DACL strings as Windows
// prints them with `(Get-Acl -LiteralPath X).Sddl`, and the simulated Get-Acl/Set-Acl/icacls.
import t from 'tap';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  SAFE_FOLDER_SDDL,
  icaclsCounts,
  icaclsInsideRequest,
  judgeSddl,
  parseReadAcls,
  parseSddl,
  readAclsRequest,
  setAclRequest,
} from '../src/windows/acl.js';
import { SimulatedRunner, plainServerState, type SimState } from '../src/system/simulated.js';
import { ORDINARY_USER_SID, PROGRAMDATA_CHILD_SDDL, USERS_MAY_WRITE_SDDL, folderMadeBy } from '../src/system/simulated/acl.js';
import { Target } from '../src/target/target.js';

// Real captures (public, Get-Acl .Sddl): C:\ProgramData on Windows Server 2025, and what a
// folder made under it by an elevated administrator inherits.
const PROGRAMDATA = 'O:SYG:SYD:PAI(A;OICIIO;GA;;;CO)(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)(A;CI;DCLCRPCR;;;BU)';
const USER = ORDINARY_USER_SID;

const kinds = (sddl: string) => judgeSddl(sddl).map((f) => `${f.kind}${f.sid ? ` ${f.sid}` : ''}`);

t.test('a protected folder owned by Administrators that only SYSTEM and Administrators may write is trusted', async (t) => {
  t.same(kinds(SAFE_FOLDER_SDDL), []);
  t.same(kinds('O:SYG:SYD:PAI(A;OICI;FA;;;BA)(A;OICI;FA;;;SY)'), [], 'owner SYSTEM is as good');
  t.same(kinds('O:S-1-5-32-544G:S-1-5-18D:PAI(A;OICI;FA;;;S-1-5-18)(A;OICI;FA;;;S-1-5-32-544)'), [], 'SIDs written out are the same as their aliases');
  t.same(kinds(`${SAFE_FOLDER_SDDL}(A;OICI;0x1200a9;;;BU)(A;OICI;FR;;;AU)(A;;GRGX;;;WD)`), [], 'read-only entries for others are fine');
  t.same(kinds(`O:BAG:SYD:P(D;OICI;FA;;;WD)(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)`), [], 'a deny entry takes nothing away from the trust');
});

t.test("ProgramData's own ACL and what a new folder inherits from it are refused, naming the entry that lets Users write", async (t) => {
  t.same(kinds(PROGRAMDATA), ['entry S-1-3-0', 'entry S-1-5-32-545'], 'protected, but CREATOR OWNER and Users may write');
  t.same(kinds(PROGRAMDATA_CHILD_SDDL), ['inherits', 'entry S-1-3-0', 'entry S-1-5-32-545'], 'and a child inherits it');
  const users = judgeSddl(PROGRAMDATA_CHILD_SDDL).find((f) => f.sid === 'S-1-5-32-545')!;
  t.match(users.text, '(A;CIID;DCLCRPCR;;;BU) lets S-1-5-32-545 (BUILTIN\\Users) create files, create folders / append');
  t.match(users.text, '(inherited)');
});

t.test('an inherited entry is refused even when it only grants SYSTEM and Administrators: the parent can change', async (t) => {
  t.same(kinds('O:BAG:SYD:AI(A;OICIID;FA;;;SY)(A;OICIID;FA;;;BA)'), ['inherits']);
  t.same(kinds('O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICIID;FA;;;BA)'), ['inherits'], 'an ID entry under a P flag too');
});

t.test('owners: Administrators or SYSTEM only, decided by SID', async (t) => {
  t.same(kinds(folderMadeBy(USER)), [`owner ${USER}`, 'inherits', `entry ${USER}`, 'entry S-1-3-0', 'entry S-1-5-32-545']);
  t.same(
    kinds(`O:${USER}G:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)`),
    [`owner ${USER}`],
    'an ordinary owner alone is enough to refuse: an owner can always rewrite the DACL',
  );
  t.same(
    kinds('O:S-1-5-21-1-2-3-500D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)'),
    ['owner S-1-5-21-1-2-3-500'],
    'the built-in Administrator account is an account, not the Administrators group',
  );
  t.same(kinds('O:DAD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)'), ['owner alias DA'], 'Domain Admins (domain-relative) is not trusted, whatever it is called');
  t.same(kinds('G:SYD:PAI(A;OICI;FA;;;SY)'), ['owner'], 'no owner part: not trusted');
});

t.test('every right that writes, deletes, or changes permissions or owner is caught, in letters or as a mask', async (t) => {
  for (const right of [
    'FA',
    'FW',
    'GA',
    'GW',
    'WD',
    'WO',
    'SD',
    'DC',
    'LC',
    'RP',
    'CR',
    'DT',
    '0x2',
    '0x4',
    '0x10',
    '0x40',
    '0x100',
    '0x10000',
    '0x40000',
    '0x80000',
    '0x1301bf',
  ]) {
    t.same(kinds(`${SAFE_FOLDER_SDDL}(A;;${right};;;BU)`), ['entry S-1-5-32-545'], right);
  }
  t.same(kinds(`${SAFE_FOLDER_SDDL}(A;OICIIO;GA;;;CO)`), ['entry S-1-3-0'], 'an inherit-only entry still grants on what is created inside');
  t.same(kinds(USERS_MAY_WRITE_SDDL), ['entry S-1-5-32-545']);
  t.same(kinds(`${SAFE_FOLDER_SDDL}(XA;OICI;FA;;;WD;(Member_of {SID(BA)}))`), ['entry S-1-1-0'], 'a conditional entry, with parentheses inside, is read whole');
  t.same(kinds('O:BAD:NO_ACCESS_CONTROL'), ['no-dacl']);
  t.same(kinds('O:BA'), ['no-dacl']);
});

t.test('the parser reads owner and DACL flags and rejects what it cannot read rather than guessing', async (t) => {
  const parsed = parseSddl(PROGRAMDATA_CHILD_SDDL);
  t.equal(parsed.owner, 'S-1-5-32-544');
  t.equal(parsed.dacl?.protected, false);
  t.same(
    parsed.dacl?.aces.map((a) => [a.type, a.flags.join(''), a.mask.toString(16), a.sid]),
    [
      ['A', 'OICIID', '1f01ff', 'S-1-5-18'],
      ['A', 'OICIID', '1f01ff', 'S-1-5-32-544'],
      ['A', 'OICIIOID', '10000000', 'S-1-3-0'],
      ['A', 'OICIID', '1200a9', 'S-1-5-32-545'],
      ['A', 'CIID', '116', 'S-1-5-32-545'],
    ],
  );
  t.throws(() => judgeSddl('O:BAD:PAI(A;OICI;XX;;;BU)'), /unknown rights "XX"/);
  t.throws(() => judgeSddl('O:BAD:PAI(A;OICI;FA;;;BU'), /unbalanced/);
  t.throws(() => judgeSddl('not sddl'), /not an SDDL string/);
});

t.test("Get-Acl's output is read by position; names never enter the decision", async (t) => {
  // The script prints `path|sddl` per path; SDDL has no names in any display language.
  const paths = ['C:\\ProgramData\\kerio-dcc', 'D:\\Backups with | pipe?'.replace('|', '')];
  const out = `${paths[0]}|${SAFE_FOLDER_SDDL}\r\n${paths[1]}|${PROGRAMDATA_CHILD_SDDL}\r\n`;
  const read = parseReadAcls(out, paths)!;
  t.equal(read.get(paths[0]!.toLowerCase()), SAFE_FOLDER_SDDL);
  t.equal(read.get(paths[1]!.toLowerCase()), PROGRAMDATA_CHILD_SDDL);
  t.equal(parseReadAcls(`${paths[0]}|${SAFE_FOLDER_SDDL}\r\n`, paths), null, 'a path missing from the output is not taken as safe');
  t.equal(parseReadAcls('Get-Acl : Zugriff verweigert\r\n', paths), null, 'nor is an error in any language');
  // What a German and an English Windows print for the same folder with icacls differs
  // (VORDEFINIERT\Benutzer vs BUILTIN\Users); the SDDL both give Get-Acl's .Sddl is one.
  t.same(kinds(PROGRAMDATA_CHILD_SDDL), kinds(PROGRAMDATA_CHILD_SDDL.replace(/BU\)/g, 'S-1-5-32-545)')));
  t.same(icaclsCounts('Successfully processed 12 files; Failed processing 0 files\r\n'), { processed: 12, failed: 0 });
  t.same(icaclsCounts('C:\\x\\*: Access is denied.\r\nSuccessfully processed 0 files; Failed processing 3 files\r\n'), { processed: 0, failed: 3 });
});

t.test('the simulated Get-Acl, Set-Acl and icacls answer as Windows does, on the same parser, in any language', async (t) => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'kerio-dcc-acl-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const target = new Target({ root });
  const folder = 'C:\\ProgramData\\kerio-dcc';
  await mkdir(target.toHost(`${folder}\\backups\\20260101T000000Z`), { recursive: true });
  await writeFile(target.toHost(`${folder}\\backups\\20260101T000000Z\\manifest.json`), '{}');
  const runner = (language: SimState['language']) =>
    new SimulatedRunner(
      target.toHost('C:\\ProgramData\\kerio-dcc\\simulated-system.json'),
      async () => ({ ...(await plainServerState(target, 'KerioMailServer')), language }),
      target,
    );
  for (const language of ['en', 'de'] as const) {
    const read = await runner(language).run(readAclsRequest(target, [folder]));
    t.equal(read.exitCode, 0);
    t.equal(read.stdout, `${folder}|${PROGRAMDATA_CHILD_SDDL}\r\n`, `${language}: a folder with no record has ProgramData's inherited ACL`);
  }
  const missing = await runner('en').run(readAclsRequest(target, ['C:\\nope']));
  t.equal(missing.exitCode, 1);
  t.match(missing.stderr, "Get-Acl : Cannot find path 'C:\\nope' because it does not exist.");

  const sim = runner('en');
  const set = await sim.run(setAclRequest(target, folder, SAFE_FOLDER_SDDL));
  t.equal(set.exitCode, 0);
  t.equal(set.stdout, `${SAFE_FOLDER_SDDL}\r\n`, 'Set-Acl with a protected SDDL: the folder has exactly that');
  const owner = await sim.run(icaclsInsideRequest(target, folder, 'setowner'));
  t.same(
    [owner.exitCode, owner.stdout],
    [0, 'Successfully processed 4 files; Failed processing 0 files\r\n'],
    "icacls counts everything inside (two folders, a manifest and the simulation's own state)",
  );
  const reset = await sim.run(icaclsInsideRequest(target, folder, 'reset'));
  t.equal(reset.exitCode, 0);
  const inside = await sim.run(readAclsRequest(target, [folder, `${folder}\\backups`]));
  t.equal(
    inside.stdout,
    `${folder}|${SAFE_FOLDER_SDDL}\r\n${folder}\\backups|O:BAG:SYD:AI(A;OICIID;FA;;;SY)(A;OICIID;FA;;;BA)\r\n`,
    'a folder inside inherits the protected ACL',
  );
  t.same(kinds(SAFE_FOLDER_SDDL), []);
  const back = await sim.run(setAclRequest(target, folder, PROGRAMDATA_CHILD_SDDL));
  t.equal(back.stdout, `${PROGRAMDATA_CHILD_SDDL}\r\n`, 'an unprotected SDDL put back inherits from ProgramData again');
});
