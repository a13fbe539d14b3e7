import t from 'tap';
import { Target } from '../src/target/target.js';
import {
  addRuleRequest,
  dccFirewallRules,
  deleteRuleRequest,
  FirewallError,
  netshShowRules,
  parseShowRuleOutput,
  planFirewallRules,
  ruleMatches,
  runFirewallChange,
  showRules,
  type FirewallRule,
} from '../src/windows/firewall.js';
import { firewallRulesRequest, parseFirewallRules } from '../src/windows/firewallPowershell.js';
import { describeDifferences, readProfiles } from '../src/windows/firewallRule.js';
import { decodePowershell } from '../src/windows/powershell.js';
import { systemTool } from '../src/windows/tools.js';
import { FakeRunner, type FakeReply, type FakeRow } from './helpers/fakeRunner.js';

const target = new Target({ root: null, systemRoot: 'C:\\Windows' });
const NETSH = 'C:\\Windows\\System32\\netsh.exe';
const PREFIX = 'Kerio DCC';
const OUT_NAME = 'Kerio DCC (UDP 6277 out)';
const IN_NAME = 'Kerio DCC (UDP 6277 in)';

const EN_LABELS = [
  'Rule Name:',
  'Enabled:',
  'Direction:',
  'Profiles:',
  'Grouping:',
  'LocalIP:',
  'RemoteIP:',
  'Protocol:',
  'LocalPort:',
  'RemotePort:',
  'Edge traversal:',
  'Action:',
];
const DE_LABELS = [
  'Regelname:',
  'Aktiviert:',
  'Richtung:',
  'Profile:',
  'Gruppierung:',
  'LokaleIP:',
  'RemoteIP:',
  'Protokoll:',
  'Lokaler Port:',
  'Remoteport:',
  'Edgeausnahme:',
  'Aktion:',
];
const FR_LABELS = [
  'Nom de la règle :',
  'Activé :',
  'Direction :',
  'Profiles :',
  'Groupement :',
  'LocalIP :',
  'RemoteIP :',
  'Protocole :',
  'LocalPort :',
  'RemotePort :',
  'Traversée de bord :',
  'Action :',
];

/** One `show rule` block as netsh lays it out: label padded to column 38, then the value. */
function block(labels: string[], values: string[], eol = '\r\n'): string {
  const rows = [`${labels[0]!.padEnd(38)}${values[0]}`, '-'.repeat(70)];
  values.slice(1).forEach((v, i) => rows.push(`${labels[i + 1]!.padEnd(38)}${v}`.trimEnd()));
  return rows.join(eol) + eol;
}

function showOutput(blocks: string[], ok = 'Ok.', eol = '\r\n'): string {
  return eol + blocks.join(eol) + eol + ok + eol + eol;
}

const enValues = (name: string, dir: string, over: Partial<Record<'remotePort' | 'localPort' | 'profiles' | 'action' | 'enabled', string>> = {}) => [
  name,
  over.enabled ?? 'Yes',
  dir,
  over.profiles ?? 'Domain,Private,Public',
  '',
  'Any',
  'Any',
  'UDP',
  over.localPort ?? '1024-65535',
  over.remotePort ?? '6277',
  'No',
  over.action ?? 'Allow',
];
const deValues = (name: string, dir: string) => [
  name,
  'Ja',
  dir,
  'Domäne,Privat,Öffentlich',
  '',
  'Beliebig',
  'Beliebig',
  'UDP',
  '1024-65535',
  '6277',
  'Nein',
  'Zulassen',
];

const NO_RULES_EN: FakeReply = { exitCode: 1, stdout: '\r\nNo rules match the specified criteria.\r\n\r\n' };
const NO_RULES_DE: FakeReply = { exitCode: 1, stdout: '\r\nKeine Regeln entsprechen den angegebenen Kriterien.\r\n\r\n' };

/** Windows PowerShell without the NetSecurity cmdlets: the script stops, exit 1. */
const psRequest = firewallRulesRequest(target, [OUT_NAME, IN_NAME]);
const NO_NETSECURITY: FakeRow = {
  program: psRequest.program,
  args: psRequest.args,
  reply: {
    exitCode: 1,
    stderr: "Get-NetFirewallRule : The term 'Get-NetFirewallRule' is not recognized as the name of a cmdlet, function, script file, or operable program.\r\n",
  },
};

const showArgs = (name: string) => ['advfirewall', 'firewall', 'show', 'rule', `name=${name}`];
const showRow = (name: string, reply: FakeReply): FakeRow => ({ program: NETSH, args: showArgs(name), reply });
const found = (...blocks: string[]): FakeReply => ({ exitCode: 0, stdout: showOutput(blocks) });

t.test('the two DCC rules open UDP from local ports above 1023 to remote port 6277 and back', async (t) => {
  const [out, inbound] = dccFirewallRules(PREFIX);
  t.match(out, { name: OUT_NAME, direction: 'out', protocol: 'UDP', localPort: '1024-65535', remotePort: '6277', action: 'allow', enabled: true });
  t.match(inbound, { name: IN_NAME, direction: 'in', protocol: 'UDP', localPort: '1024-65535', remotePort: '6277', action: 'allow', enabled: true });
  t.equal(out!.profiles, 'Domain,Private,Public');
});

t.test('netsh is called by its absolute path, and through Sysnative from a 32-bit Node on 64-bit Windows', async (t) => {
  t.equal(systemTool(target, 'netsh.exe'), NETSH);
  const wow64 = new Target({ root: null, systemRoot: 'D:\\WINNT', wow64Process: true });
  t.equal(systemTool(wow64, 'sc.exe'), 'D:\\WINNT\\Sysnative\\sc.exe');
  t.equal(systemTool(new Target({ root: '/tmp/image' }), 'net.exe'), 'C:\\Windows\\System32\\net.exe');
});

t.test('an English show-rule block is read field by field', async (t) => {
  for (const eol of ['\r\n', '\n']) {
    const rules = parseShowRuleOutput(showOutput([block(EN_LABELS, enValues(OUT_NAME, 'Out'), eol)], 'Ok.', eol));
    t.same(rules, [dccFirewallRules(PREFIX)[0]], `with ${JSON.stringify(eol)} line ends`);
  }
});

t.test('German labels and values are read by position and mapped to the same rule', async (t) => {
  const rules = parseShowRuleOutput(showOutput([block(DE_LABELS, deValues(IN_NAME, 'Eingehend'))], 'OK.'));
  t.equal(rules.length, 1);
  t.match(rules[0], { name: IN_NAME, enabled: true, direction: 'in', protocol: 'UDP', localPort: '1024-65535', remotePort: '6277', action: 'allow' });
  t.equal(rules[0]!.unreadable, undefined, 'every German word is known');
  t.ok(ruleMatches(rules[0]!, dccFirewallRules(PREFIX)[1]!));
});

t.test('a localized word we do not know is reported and compared as "cannot tell"', async (t) => {
  const values = ['Kerio DCC (UDP 6277 in)', 'Oui', 'Actif', 'Domaine,Privé,Public', '', 'Tout', 'Tout', 'UDP', '1024-65535', '6277', 'Non', 'Autoriser'];
  const [rule] = parseShowRuleOutput(showOutput([block(FR_LABELS, values)]));
  t.equal(rule!.direction, null);
  t.same(rule!.unreadable, ['direction "Actif"']);
  t.equal(rule!.enabled, true);
  t.equal(rule!.action, 'allow');
  t.ok(ruleMatches(rule!, dccFirewallRules(PREFIX)[1]!), 'an unreadable word is not a difference');
});

t.test('two blocks with one name are two rules', async (t) => {
  const text = showOutput([block(EN_LABELS, enValues(OUT_NAME, 'Out')), block(EN_LABELS, enValues(OUT_NAME, 'Out', { remotePort: '53' }))]);
  const rules = parseShowRuleOutput(text);
  t.equal(rules.length, 2);
  t.equal(rules[1]!.remotePort, '53');
});

t.test('a rule for any protocol has no port lines and its action is still read from the last line', async (t) => {
  const labels = EN_LABELS.filter((l) => !l.includes('Port'));
  const values = [OUT_NAME, 'Yes', 'Out', 'Domain,Private,Public', '', 'Any', 'Any', 'Any', 'No', 'Block'];
  const [rule] = parseShowRuleOutput(showOutput([block(labels, values)]));
  t.match(rule, { protocol: 'Any', localPort: '', remotePort: '', action: 'block' });
  t.notOk(ruleMatches(rule!, dccFirewallRules(PREFIX)[0]!));
});

t.test('a rule differing in ports, direction, action, state or profiles does not match', async (t) => {
  const wanted = dccFirewallRules(PREFIX)[0]!;
  const cases: Array<[string, FirewallRule]> = [
    ['remote port', { ...wanted, remotePort: '53' }],
    ['local port', { ...wanted, localPort: 'Any' }],
    ['direction', { ...wanted, direction: 'in' }],
    ['action', { ...wanted, action: 'block' }],
    ['disabled', { ...wanted, enabled: false }],
    ['one profile', { ...wanted, profiles: 'Public' }],
    ['unknown profile words, only two of them', { ...wanted, profiles: 'Dominio,Privado' }],
    ['protocol', { ...wanted, protocol: 'TCP' }],
  ];
  for (const [what, actual] of cases) t.notOk(ruleMatches(actual, wanted), what);
  t.ok(ruleMatches({ ...wanted, profiles: 'Public,Domain,Private' }, wanted), 'profile order does not matter');
  t.ok(ruleMatches({ ...wanted, profiles: 'Dominio,Privado,Público' }, wanted), 'three unknown profile words are all three profiles');
});

t.test('the add request is an argument array netsh reads without a shell', async (t) => {
  const [out, inbound] = dccFirewallRules(PREFIX);
  const add = addRuleRequest(target, out!);
  t.equal(add.program, NETSH);
  t.equal(add.mutates, true);
  t.same(add.args, [
    'advfirewall',
    'firewall',
    'add',
    'rule',
    `name=${OUT_NAME}`,
    'dir=out',
    'action=allow',
    'protocol=UDP',
    'localport=1024-65535',
    'remoteport=6277',
    'profile=any',
    'enable=yes',
  ]);
  t.same(addRuleRequest(target, inbound!).args.slice(4, 6), [`name=${IN_NAME}`, 'dir=in']);
  t.same(addRuleRequest(target, { ...out!, profiles: 'Public,Domain' }).args.at(-2), 'profile=domain,public');
  const del = deleteRuleRequest(target, OUT_NAME);
  t.same(del.args, ['advfirewall', 'firewall', 'delete', 'rule', `name=${OUT_NAME}`]);
  t.equal(del.mutates, true);
  t.throws(() => addRuleRequest(target, { ...out!, direction: null, unreadable: ['direction "Actif"'] }), /Actif/);
});

t.test('netsh show returns none on exit 1 in any language and fails loudly on other errors', async (t) => {
  for (const reply of [NO_RULES_EN, NO_RULES_DE, { exitCode: 1, stdout: '' }]) {
    t.same(await netshShowRules(new FakeRunner([showRow(OUT_NAME, reply)]), target, OUT_NAME), []);
  }
  const broken = new FakeRunner([showRow(OUT_NAME, { exitCode: 5, stdout: 'Zugriff verweigert' })]);
  await t.rejects(netshShowRules(broken, target, OUT_NAME), { message: /exited with code 5:\nZugriff verweigert/ });
  const silent = new FakeRunner([showRow(OUT_NAME, { exitCode: 0, stdout: '\r\nOk.\r\n' })]);
  await t.rejects(netshShowRules(silent, target, OUT_NAME), FirewallError);
  const show = new FakeRunner([showRow(OUT_NAME, NO_RULES_EN)]);
  await netshShowRules(show, target, OUT_NAME);
  t.equal(show.calls[0]!.mutates, false, 'showing never counts as a change');
});

t.test('the plan adds, keeps or replaces each rule according to what netsh shows, when PowerShell cannot read the firewall', async (t) => {
  const outOk = block(EN_LABELS, enValues(OUT_NAME, 'Out'));
  const inOk = block(EN_LABELS, enValues(IN_NAME, 'In'));
  const cases: Array<{ what: string; out: FakeReply; in: FakeReply; verdicts: [string, string]; reason?: RegExp; notes?: number }> = [
    { what: 'no rules yet', out: NO_RULES_EN, in: NO_RULES_EN, verdicts: ['add', 'add'] },
    { what: 'no rules yet, German netsh', out: NO_RULES_DE, in: NO_RULES_DE, verdicts: ['add', 'add'] },
    { what: 'both rules already present', out: found(outOk), in: found(inOk), verdicts: ['unchanged', 'unchanged'] },
    {
      what: 'German rules already present',
      out: found(block(DE_LABELS, deValues(OUT_NAME, 'Ausgehend'))),
      in: found(block(DE_LABELS, deValues(IN_NAME, 'Eingehend'))),
      verdicts: ['unchanged', 'unchanged'],
    },
    { what: 'a duplicated rule', out: found(outOk, outOk), in: found(inOk), verdicts: ['replace', 'unchanged'], reason: /2 rules are named/ },
    {
      what: 'a rule with the wrong remote port',
      out: found(outOk),
      in: found(block(EN_LABELS, enValues(IN_NAME, 'In', { remotePort: '53' }))),
      verdicts: ['unchanged', 'replace'],
      reason: /remote port 53 \(wanted 6277\)/,
    },
    {
      what: 'a disabled rule',
      out: found(block(EN_LABELS, enValues(OUT_NAME, 'Out', { enabled: 'No' }))),
      in: found(inOk),
      verdicts: ['replace', 'unchanged'],
      reason: /disabled/,
    },
    {
      what: 'a French rule whose direction word is unknown',
      out: found(outOk),
      in: found(block(FR_LABELS, [IN_NAME, 'Oui', 'Actif', 'Domaine,Privé,Public', '', 'Tout', 'Tout', 'UDP', '1024-65535', '6277', 'Non', 'Autoriser'])),
      verdicts: ['unchanged', 'unchanged'],
      reason: /could not read direction "Actif"/,
      notes: 1,
    },
  ];
  for (const c of cases) {
    const runner = new FakeRunner([NO_NETSECURITY, showRow(OUT_NAME, c.out), showRow(IN_NAME, c.in)]);
    const plans = await planFirewallRules(runner, target, PREFIX);
    t.same(
      plans.map((p) => p.verdict),
      c.verdicts,
      c.what,
    );
    t.ok(
      runner.calls.every((call) => !call.mutates),
      `${c.what}: planning only reads`,
    );
    for (const plan of plans) {
      const expected = { unchanged: [], add: [['add']], replace: [['delete'], ['add']] }[plan.verdict].map((v) => v[0]);
      t.same(
        plan.requests.map((r) => r.args[2]),
        expected,
        `${c.what}: requests for ${plan.verdict}`,
      );
      if (plan.verdict !== 'unchanged') t.same(plan.requests.at(-1)!.args, addRuleRequest(target, plan.wanted).args);
    }
    if (c.reason)
      t.ok(
        plans.some((p) => c.reason!.test(p.reason)),
        `${c.what}: reason says why`,
      );
    t.equal(plans.flatMap((p) => p.notes).length, c.notes ?? 0, `${c.what}: notes`);
  }
});

t.test('a refused firewall change names the elevated prompt, whatever language netsh speaks', async (t) => {
  const add = addRuleRequest(target, dccFirewallRules(PREFIX)[0]!);
  const refused = new FakeRunner([
    { program: NETSH, args: add.args, reply: { exitCode: 1, stdout: 'Für den angeforderten Vorgang sind erhöhte Rechte erforderlich.\r\n' } },
  ]);
  const error = await runFirewallChange(refused, add).catch((e: unknown) => e);
  t.type(error, FirewallError);
  t.match((error as FirewallError).hint, /elevated prompt/);
  t.match((error as FirewallError).message, /erhöhte Rechte/, 'the text netsh printed is shown as is');

  const other = new FakeRunner([{ program: NETSH, args: add.args, reply: { exitCode: 87, stdout: 'bad' } }]);
  const otherError = (await runFirewallChange(other, add).catch((e: unknown) => e)) as FirewallError;
  t.match(otherError.message, /exited with code 87/);
  t.equal(otherError.hint, undefined, 'no elevation hint for an unrelated failure');

  const fine = new FakeRunner([{ program: NETSH, args: add.args, reply: { stdout: 'Ok.\r\n' } }]);
  t.equal((await runFirewallChange(fine, add)).exitCode, 0);
});

/** One line of the firewall-rules script's output, as ConvertTo-Json -Compress prints it. */
const psLine = (name: string, direction: string, over: Record<string, string> = {}) =>
  JSON.stringify({ name, enabled: 'True', direction, action: 'Allow', profile: 'Any', protocol: 'UDP', localPort: '1024-65535', remotePort: '6277', ...over });
const psRow = (names: string[], reply: FakeReply): FakeRow => {
  const request = firewallRulesRequest(target, names);
  return { program: request.program, args: request.args, reply };
};

t.test('rules are read in one PowerShell call, by exact display name, bound as literals', async (t) => {
  const script = decodePowershell(psRequest.args);
  t.equal(script?.kind, 'firewall-rules');
  t.same(script?.params, { name1: OUT_NAME, name2: IN_NAME }, 'the names, with their spaces and parentheses, as parameters');
  t.match(script?.text, /Get-NetFirewallRule -DisplayName \(\[WildcardPattern\]::Escape\(\$name\)\)/, 'the name is no wildcard pattern');
  t.match(script?.text, /Where-Object \{ \$_\.DisplayName -eq \$name \}/, 'and must match exactly');
  t.equal(psRequest.output, 'utf8', 'PowerShell output is read as UTF-8');
  t.equal(psRequest.mutates, false);
});

t.test("PowerShell's enumerations decide the plan in any display language, without netsh", async (t) => {
  const cases: Array<{ what: string; stdout: string; verdicts: [string, string]; reason?: RegExp; notes?: number }> = [
    { what: 'no rules yet', stdout: '', verdicts: ['add', 'add'] },
    {
      what: 'both rules present',
      stdout: [psLine(OUT_NAME, 'Outbound'), psLine(IN_NAME, 'Inbound')].join('\r\n') + '\r\n',
      verdicts: ['unchanged', 'unchanged'],
    },
    {
      what: 'a duplicate',
      stdout: [psLine(OUT_NAME, 'Outbound'), psLine(OUT_NAME, 'Outbound'), psLine(IN_NAME, 'Inbound')].join('\r\n'),
      verdicts: ['replace', 'unchanged'],
      reason: /2 rules are named/,
    },
    {
      what: 'two profiles only',
      stdout: [psLine(OUT_NAME, 'Outbound', { profile: 'Domain, Private' }), psLine(IN_NAME, 'Inbound')].join('\r\n'),
      verdicts: ['replace', 'unchanged'],
      reason: /profiles Domain,Private \(wanted Domain,Private,Public\)/,
    },
    {
      what: 'disabled, blocking',
      stdout: [psLine(OUT_NAME, 'Outbound', { enabled: 'False' }), psLine(IN_NAME, 'Inbound', { action: 'Block' })].join('\r\n'),
      verdicts: ['replace', 'replace'],
      reason: /action block/,
    },
    {
      what: 'wrong direction',
      stdout: [psLine(OUT_NAME, 'Inbound'), psLine(IN_NAME, 'Inbound')].join('\r\n'),
      verdicts: ['replace', 'unchanged'],
      reason: /direction in \(wanted out\)/,
    },
    {
      what: 'an enumeration name this tool does not know',
      stdout: [psLine(OUT_NAME, 'Outbound', { action: 'NotConfigured' }), psLine(IN_NAME, 'Inbound')].join('\r\n'),
      verdicts: ['unchanged', 'unchanged'],
      reason: /could not read action "NotConfigured"/,
      notes: 1,
    },
  ];
  for (const c of cases) {
    const runner = new FakeRunner([psRow([OUT_NAME, IN_NAME], { exitCode: 0, stdout: c.stdout })]);
    const plans = await planFirewallRules(runner, target, PREFIX);
    t.same(
      plans.map((p) => p.verdict),
      c.verdicts,
      c.what,
    );
    t.equal(runner.calls.length, 1, `${c.what}: one PowerShell call, no netsh`);
    if (c.reason)
      t.ok(
        plans.some((p) => c.reason!.test(p.reason)),
        `${c.what}: reason says why`,
        { reasons: plans.map((p) => p.reason) },
      );
    t.equal(plans.flatMap((p) => p.notes).length, c.notes ?? 0, `${c.what}: notes`);
  }
});

t.test('output PowerShell did not print as the script does falls back to netsh', async (t) => {
  const runner = new FakeRunner([
    psRow([OUT_NAME], { exitCode: 0, stdout: 'WARNING: something else\r\n' }),
    showRow(OUT_NAME, found(block(EN_LABELS, enValues(OUT_NAME, 'Out')))),
  ]);
  const rules = await showRules(runner, target, OUT_NAME);
  t.equal(rules.length, 1);
  t.equal(rules[0]!.direction, 'out');
  t.same(
    runner.calls.map((c) => c.program),
    [psRow([OUT_NAME], {}).program, NETSH],
  );
});

// ------------------------------------------------- checks that mutation testing found untested

t.test('every localized word netsh may print is read as what it means', async (t) => {
  const out = dccFirewallRules(PREFIX)[0]!;
  const words: Array<[keyof Pick<FirewallRule, 'enabled' | 'direction' | 'action'>, number, string, unknown]> = [
    ['enabled', 1, 'Yes', true],
    ['enabled', 1, 'Ja', true],
    ['enabled', 1, 'Oui', true],
    ['enabled', 1, 'No', false],
    ['enabled', 1, 'Nein', false],
    ['enabled', 1, 'Non', false],
    ...(['In', 'Eingehend', 'Eingang', 'Entrée', 'Entrant'] as const).map((w) => ['direction', 2, w, 'in'] as const),
    ...(['Out', 'Ausgehend', 'Ausgang', 'Sortie', 'Sortant'] as const).map((w) => ['direction', 2, w, 'out'] as const),
    ...(['Allow', 'Zulassen', 'Autoriser'] as const).map((w) => ['action', 11, w, 'allow'] as const),
    ...(['Block', 'Blockieren', 'Bloquer'] as const).map((w) => ['action', 11, w, 'block'] as const),
    ...(['Bypass', 'Umgehen', 'Contourner'] as const).map((w) => ['action', 11, w, 'bypass'] as const),
  ];
  for (const [field, at, word, meaning] of words) {
    const values = enValues(OUT_NAME, 'Out');
    values[at] = word;
    const [rule] = parseShowRuleOutput(showOutput([block(EN_LABELS, values)]));
    t.same({ value: rule![field], unreadable: rule!.unreadable }, { value: meaning, unreadable: undefined }, `${field} "${word}"`);
  }
  const [german] = parseShowRuleOutput(
    showOutput([
      block(DE_LABELS, [OUT_NAME, 'Ja', 'Ausgehend', 'Domäne,Privat,Öffentlich', '', 'Beliebig', 'Beliebig', 'UDP', '1024-65535', '6277', 'Nein', 'Zulassen']),
    ]),
  );
  t.ok(ruleMatches(german!, out), 'a German rule with every field known matches');
});

t.test('a rule block too short to read by position is reported, never guessed', async (t) => {
  const short = block(EN_LABELS.slice(0, 6), enValues(OUT_NAME, 'Out').slice(0, 6));
  const [rule] = parseShowRuleOutput(showOutput([short]));
  t.equal(rule!.action, null, 'no action is read from a short block');
  t.same(rule!.unreadable, ['the rule block has 5 lines, expected at least 8'], 'the block is reported as unreadable, and no field of it as a word');
  const exact = [...enValues(OUT_NAME, 'Out').slice(0, 8), 'Allow'];
  const [eight] = parseShowRuleOutput(showOutput([block([...EN_LABELS.slice(0, 8), 'Action:'], exact)]));
  t.equal(eight!.action, 'allow', 'eight lines are enough: the last one is the action');
  t.equal(eight!.unreadable, undefined);
  const icmp = [OUT_NAME, 'Yes', 'Out', 'Domain,Private,Public', '', 'Any', 'Any', 'ICMPv4', 'Type    Code', 'Any     Any', 'No', 'Block'];
  const rules = parseShowRuleOutput(showOutput([block(EN_LABELS, icmp), block(EN_LABELS, enValues(IN_NAME, 'In'))]));
  t.equal(rules.length, 2, 'two blocks, two rules');
  t.match(rules[0], { name: OUT_NAME, protocol: 'ICMPv4', localPort: '', remotePort: '', action: 'block' }, 'the first block ends before the next rule name');
  t.same(rules[1], dccFirewallRules(PREFIX)[1], 'the second block is read whole');
  const unknownProfiles = parseShowRuleOutput(showOutput([block(EN_LABELS, enValues(OUT_NAME, 'Out', { profiles: 'Dominio,Privado' }))]))[0]!;
  t.same(unknownProfiles.unreadable, ['profiles "Dominio,Privado"']);
  const noProfiles = parseShowRuleOutput(showOutput([block(EN_LABELS, enValues(OUT_NAME, 'Out', { profiles: '' }))]))[0]!;
  t.equal(noProfiles.unreadable, undefined, 'an empty profile line is not an unreadable word');
});

t.test('rules saved before a run compare by their exact profiles (rollback puts back a one-profile rule)', async (t) => {
  const saved = { ...dccFirewallRules(PREFIX)[0]!, profiles: 'Domain' };
  t.notOk(ruleMatches({ ...saved, profiles: 'Public' }, saved), 'another single profile');
  t.notOk(ruleMatches({ ...saved, profiles: 'Private,Public' }, { ...saved, profiles: 'Domain,Private' }), 'two profiles, one of them different');
  t.ok(ruleMatches({ ...saved, profiles: 'Private,Domain' }, { ...saved, profiles: 'Domain,Private' }), 'the same two in another order');
  t.ok(
    ruleMatches({ ...saved, profiles: 'Dominio,Privado' }, { ...saved, profiles: 'Domain,Private' }),
    'two unknown words against two profiles: cannot tell, not a difference',
  );
  t.notOk(ruleMatches({ ...saved, profiles: 'Dominio' }, { ...saved, profiles: 'Domain,Private' }), 'one unknown word against two profiles: a difference');
  const all = dccFirewallRules(PREFIX)[0]!;
  t.ok(ruleMatches({ ...all, profiles: 'Domain,Privado,Público' }, all), 'three words, some unknown, are all three profiles');
  t.same([...(readProfiles(' Domain , Private ') ?? [])], ['domain', 'private'], 'spaces around the words are ignored');
  t.same([...(readProfiles('') ?? ['null'])], [], 'no profile line is no profile');
  t.equal(readProfiles('Domain,Privado'), null, 'one unknown word makes the list unknown');
});

t.test('the reasons name each difference as the plan shows it', async (t) => {
  const wanted = dccFirewallRules(PREFIX)[0]!;
  const actual: FirewallRule = { ...wanted, enabled: true, protocol: '', localPort: '', remotePort: '', profiles: 'Public' };
  t.same(describeDifferences(actual, wanted), [
    'protocol (none) (wanted UDP)',
    'local port (none) (wanted 1024-65535)',
    'remote port (none) (wanted 6277)',
    'profiles Public (wanted Domain,Private,Public)',
  ]);
  t.same(describeDifferences({ ...wanted, enabled: true }, { ...wanted, enabled: false }), ['enabled (wanted disabled)']);
  t.same(describeDifferences({ ...wanted, localPort: ' 1024 - 65535 ' }, wanted), [], 'spaces in a port range are not a difference');
});

t.test('a rule put back from a backup keeps what netsh can set, and leaves out what it cannot', async (t) => {
  const base = dccFirewallRules(PREFIX)[0]!;
  const args = (rule: FirewallRule) => addRuleRequest(target, rule).args.slice(2);
  t.same(args({ ...base, protocol: 'Any', localPort: '', remotePort: '' }), [
    'add',
    'rule',
    `name=${OUT_NAME}`,
    'dir=out',
    'action=allow',
    'profile=any',
    'enable=yes',
  ]);
  t.same(args({ ...base, protocol: '17', localPort: 'Any', remotePort: '53,6277-6280', profiles: 'Public,Domain', enabled: false, action: 'block' }), [
    'add',
    'rule',
    `name=${OUT_NAME}`,
    'dir=out',
    'action=block',
    'protocol=17',
    'remoteport=53,6277-6280',
    'profile=domain,public',
    'enable=no',
  ]);
  t.same(
    args({ ...base, protocol: 'TCP', localPort: 'RPC', remotePort: '6277,x' }),
    ['add', 'rule', `name=${OUT_NAME}`, 'dir=out', 'action=allow', 'protocol=TCP', 'profile=any', 'enable=yes'],
    'keywords and words are left out',
  );
  t.throws(() => addRuleRequest(target, { ...base, profiles: 'Dominio' }), /internal: cannot add a rule with profiles "Dominio"/);
  t.throws(() => addRuleRequest(target, { ...base, profiles: '' }), /internal: cannot add a rule with profiles ""/);
  for (const unknown of ['enabled', 'action'] as const) {
    t.throws(() => addRuleRequest(target, { ...base, [unknown]: null }), FirewallError, `an unknown ${unknown} is refused`);
  }
  t.throws(
    () => addRuleRequest(target, { ...base, action: null }),
    { message: `Cannot create the firewall rule "${OUT_NAME}": its direction, action or state is not known` },
    'without unreadable words, the message says only that',
  );
});

t.test("PowerShell output that is not the script's is not believed (netsh is asked instead)", async (t) => {
  const parsed = (stdout: string) => parseFirewallRules({ exitCode: 0, timedOut: false, stdout, stderr: '' });
  t.same(parsed(`${psLine(OUT_NAME, 'Outbound')}\r\n`), [dccFirewallRules(PREFIX)[0]]);
  t.same(parsed(`${psLine(OUT_NAME, 'Outbound')}\n${psLine(IN_NAME, 'Inbound')}\n`), dccFirewallRules(PREFIX), 'lines ending in LF alone, one rule each');
  for (const odd of ['null', '"text"', '42', JSON.stringify({ enabled: 'True' }), JSON.stringify({ name: 7 })]) {
    t.equal(parsed(`${odd}\r\n`), null, odd);
  }
  t.equal(parsed(psLine(OUT_NAME, 'Outbound', { profile: 'Domain, Public' }))![0]!.profiles, 'Domain,Public', 'a flags list is read as netsh would print it');
  const unknown = parsed(psLine(OUT_NAME, 'Outbound', { profile: 'Domain, Elsewhere', protocol: 'ICMPv4' }))![0]!;
  t.same(unknown.unreadable, ['profiles "Domain, Elsewhere"']);
  t.match(unknown, { localPort: '', remotePort: '' }, 'no ports for a protocol without them');
});

t.test('the plan says in full why each rule is added, kept or replaced', async (t) => {
  const reasons = async (out: FakeReply, inbound: FakeReply) => {
    const plans = await planFirewallRules(new FakeRunner([NO_NETSECURITY, showRow(OUT_NAME, out), showRow(IN_NAME, inbound)]), target, PREFIX);
    return plans.map((p) => ({ reason: p.reason, notes: p.notes }));
  };
  t.same(await reasons(NO_RULES_EN, found(block(EN_LABELS, enValues(IN_NAME, 'In')))), [
    { reason: `no rule named "${OUT_NAME}" exists`, notes: [] },
    { reason: 'the rule exists as wanted', notes: [] },
  ]);
  const french = block(FR_LABELS, [IN_NAME, 'Oui', 'Actif', 'Domaine,Privé,Public', '', 'Tout', 'Tout', 'UDP', '1024-65535', '6277', 'Non', 'Autoriser']);
  t.same(await reasons(found(block(EN_LABELS, enValues(OUT_NAME, 'Out', { remotePort: '53', action: 'Block' }))), found(french)), [
    { reason: 'the existing rule differs: action block (wanted allow), remote port 53 (wanted 6277)', notes: [] },
    {
      reason: 'the rule exists; could not read direction "Actif" (localized netsh output), every readable field is as wanted',
      notes: [`firewall rule "${IN_NAME}": could not read direction "Actif" (localized netsh output); treated as "cannot tell"`],
    },
  ]);
});

t.test('what a short block does not hold is empty, and its words are not reported one by one', async (t) => {
  const [rule] = parseShowRuleOutput(showOutput([block(EN_LABELS.slice(0, 3), [OUT_NAME, 'Actif', 'Out'])]));
  t.same(rule, {
    name: OUT_NAME,
    enabled: null,
    direction: 'out',
    profiles: '',
    protocol: '',
    localPort: '',
    remotePort: '',
    action: null,
    unreadable: ['the rule block has 2 lines, expected at least 8'],
  });
});

t.test('a rule on more profiles than the one saved is a difference too', async (t) => {
  const saved = { ...dccFirewallRules(PREFIX)[0]!, profiles: 'Domain,Private' };
  t.notOk(ruleMatches({ ...saved, profiles: 'Domain,Private,Public' }, saved));
});
