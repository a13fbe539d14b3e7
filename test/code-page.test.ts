// Console tools print in the machine's OEM code page; kerio-dcc decodes it with iconv-lite, in
// the live runner and in the simulation alike (src/system/codePage.ts). The Wine suite proves
// the same with real Windows processes (test/windows/live-under-wine.test.ts).
import t from 'tap';
import iconv from 'iconv-lite';
import { decodeBytes, decodeResult, encodeText, oemCodePageRequest, parseOemCodePage } from '../src/system/codePage.js';
import { SimulatedRunner, type SimFirewallRule, type SimState } from '../src/system/simulated.js';
import { Target } from '../src/target/target.js';
import { planFirewallRules } from '../src/windows/firewall.js';
import { queryServiceConfig } from '../src/windows/service.js';

const target = new Target({ root: null, systemRoot: 'C:\\Windows' });
const SERVICE = 'KerioMailServer';
const CZECH_KERIO = 'D:\\Služby\\Kerio\\MailServer\\mailserver.exe';

/** What reg.exe printed under Wine 8 for a Czech prefix. */
const REG_OUTPUT = '\r\nHKEY_LOCAL_MACHINE\\System\\CurrentControlSet\\Control\\Nls\\CodePage\r\n    OEMCP    REG_SZ    852\r\n\r\n';

function state(over: Partial<SimState>): SimState {
  return {
    schema: 1,
    elevated: true,
    language: 'en',
    services: { [SERVICE]: { state: 4, binaryPath: `"${CZECH_KERIO}"`, startName: 'LocalSystem', stopHangs: false, startFails: false } },
    firewall: [],
    ...over,
  };
}

/** A runner on a state that is never saved (the calls here only read). */
const runnerOn = (s: SimState) => new SimulatedRunner('/nonexistent/kerio-dcc-code-page/state.json', () => s);

t.test("the code page is read from reg.exe's OEMCP value, whatever else it prints", async (t) => {
  t.same(oemCodePageRequest('C:\\Windows'), {
    program: 'C:\\Windows\\System32\\reg.exe',
    args: ['query', 'HKLM\\SYSTEM\\CurrentControlSet\\Control\\Nls\\CodePage', '/v', 'OEMCP'],
    mutates: false,
  });
  t.equal(parseOemCodePage(REG_OUTPUT), 852);
  t.equal(parseOemCodePage(REG_OUTPUT.replace('852', '866')), 866);
  t.equal(parseOemCodePage('ERROR: The system was unable to find the specified registry key or value.\r\n'), null);
  t.equal(parseOemCodePage(REG_OUTPUT.replace('852', '99999')), null, 'a code page iconv-lite does not know is not believed');
});

t.test('bytes are decoded in the code page they were printed in', async (t) => {
  const bytes = Buffer.from([0x53, 0x6c, 0x75, 0xa7, 0x62, 0x79]);
  t.equal(decodeBytes(bytes, 852), 'Služby', 'code page 852: ž is A7');
  t.not(bytes.toString('utf8'), 'Služby', 'read as UTF-8 the name is lost');
  t.equal(decodeBytes(encodeText('Служба', 866), 866), 'Служба');
  t.equal(decodeBytes(Buffer.from('Zürich', 'utf8'), 'utf8'), 'Zürich');
  const raw = { exitCode: 0, stdout: encodeText('Entrée', 850), stderr: Buffer.alloc(0), timedOut: false };
  let asked = 0;
  const codePage = async () => (asked++, 850);
  t.same(await decodeResult(raw, 'oem', codePage), { exitCode: 0, stdout: 'Entrée', stderr: '', timedOut: false });
  await decodeResult(raw, 'utf8', codePage);
  t.equal(asked, 1, 'UTF-8 output needs no code page');
});

t.test('the simulation prints in its code page and decodes as the live runner does: a Czech Kerio folder', async (t) => {
  for (const codePage of [852, 1250]) {
    const config = await queryServiceConfig(runnerOn(state({ codePage })), target, SERVICE);
    t.equal(config?.binaryPath, CZECH_KERIO, `code page ${codePage}`);
  }
  const printed = await runnerOn(state({ codePage: 852 })).answer('C:\\Windows\\System32\\sc.exe', ['qc', SERVICE]);
  t.ok(iconv.encode(printed.stdout, 'cp852').includes(Buffer.from([0x75, 0xa7, 0x62])), 'sc printed ž as the byte A7');
  t.equal(printed.output, 'oem');
  const latin = await queryServiceConfig(runnerOn(state({ codePage: 437 })), target, SERVICE);
  t.equal(latin?.binaryPath, 'D:\\Slu?by\\Kerio\\MailServer\\mailserver.exe', 'a character the code page lacks comes out as ?, as on Windows');
});

const RULE = (name: string, direction: string, words: Partial<SimFirewallRule> = {}): SimFirewallRule => ({
  name,
  enabled: 'Yes',
  direction,
  profiles: 'Domain,Private,Public',
  grouping: '',
  localIp: 'Any',
  remoteIp: 'Any',
  protocol: 'UDP',
  localPort: '1024-65535',
  remotePort: '6277',
  edgeTraversal: 'No',
  action: 'Allow',
  ...words,
});

t.test('French netsh words arrive whole in code page 850, when netsh is the reader', async (t) => {
  // netSecurity false: PowerShell's firewall cmdlets fail, so netsh's localized words are read.
  const french = state({
    codePage: 850,
    netSecurity: false,
    firewall: [RULE('Kerio DCC (UDP 6277 out)', 'Sortie'), RULE('Kerio DCC (UDP 6277 in)', 'Entrée', { profiles: 'Domaine,Privé,Public' })],
  });
  const plans = await planFirewallRules(runnerOn(french), target, 'Kerio DCC');
  t.same(
    plans.map((p) => p.verdict),
    ['unchanged', 'unchanged'],
  );
  t.same(
    plans.flatMap((p) => p.notes),
    [],
    '"Entrée" and "Privé" were read, not reported as unreadable',
  );
});

t.test('a Russian server (code page 866) reads its rules through PowerShell, in no language at all', async (t) => {
  const russian = state({ codePage: 866, firewall: [RULE('Kerio DCC (UDP 6277 out)', 'Out'), RULE('Kerio DCC (UDP 6277 in)', 'In', { action: 'Block' })] });
  const plans = await planFirewallRules(runnerOn(russian), target, 'Kerio DCC');
  t.same(
    plans.map((p) => p.verdict),
    ['unchanged', 'replace'],
  );
  t.match(plans[1]!.reason, /action block \(wanted allow\)/);
});

t.test('a code page the simulation cannot print in is refused with the fix', async (t) => {
  await t.rejects(runnerOn({ ...state({}), codePage: 12345 }).run({ program: 'C:\\Windows\\System32\\net.exe', args: ['session'], mutates: false }), {
    message: /codePage must be the number of an OEM code page/,
  });
});
