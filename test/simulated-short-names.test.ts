import t from 'tap';
import { SimulatedRunner, type SimState } from '../src/system/simulated.js';
import { shortComponent, simulatedShortPath } from '../src/system/simulated/shortName.js';
import { Target } from '../src/target/target.js';
import { commandLineHazard, readShortPath, shortPathRequest } from '../src/windows/shortPath.js';

const target = new Target({ root: '/tmp/kerio-dcc-short-image' });
const plain = (extra: Partial<SimState> = {}): SimState => ({ schema: 1, elevated: true, services: {}, firewall: [], language: 'en', ...extra });

t.test('what reaches dccproc intact, and what does not', async (t) => {
  for (const ok of ['C:\\sa\\etc\\dcc', 'C:\\PROGRA~1\\DCC', 'C:\\PROGRA~2\\DCC\\dccproc.exe', 'C:\\x@y\\(dcc)\\a-b_c.d', 'C:/sa/etc/dcc'])
    t.equal(commandLineHazard(ok), null, ok);
  const bad: [string, string][] = [
    ['C:\\Program Files\\DCC', 'a space'],
    ['C:\\a\tb', 'a tab'],
    ['C:\\50%\\dcc', 'a "%"'],
    ['C:\\a&b', 'a "&"'],
    ['C:\\a^b', 'a "^"'],
    ['C:\\a=b', 'a "="'],
    ['C:\\a,b', 'a ","'],
    ['C:\\a+b', 'a "+"'],
    ['C:\\a"b', 'a double quote'],
  ];
  for (const [p, why] of bad) t.equal(commandLineHazard(p), why, p);
});

t.test('simulated short names are the ones Windows generates (kept simple)', async (t) => {
  t.equal(simulatedShortPath('C:\\Program Files\\DCC', true), 'C:\\PROGRA~1\\DCC');
  t.equal(simulatedShortPath('C:\\Program Files (x86)\\DCC\\dccproc.exe', true), 'C:\\PROGRA~2\\DCC\\dccproc.exe');
  t.equal(simulatedShortPath('C:\\ProgramData\\DCC Home', true), 'C:\\PROGRA~3\\DCCHOM~1');
  t.equal(simulatedShortPath('c:\\sa\\etc\\dcc', true), 'C:\\sa\\etc\\dcc', 'valid 8.3 names have no short name of their own');
  t.equal(shortComponent('My DCC Client.program.exe', false), 'MYDCCC~1.EXE', 'spaces and inner dots dropped, extension kept to 3');
  t.equal(shortComponent('dcc+home', false), 'DCC_HO~1', '+ becomes _');
  t.equal(shortComponent('Program Files (x86)', false), 'PROGRA~1', 'the root collision is modelled at the root only');
  t.equal(simulatedShortPath('C:\\Program Files\\DCC', false), 'C:\\Program Files\\DCC', 'with 8.3 names off the long path comes back');
});

t.test('the lookup goes through PowerShell and reads what it prints: the path and CRLF', async (t) => {
  const request = shortPathRequest(target, 'C:\\Program Files\\DCC', 'folder');
  t.equal(request.mutates, false);
  for (const [state, expected] of [
    [plain(), 'C:\\PROGRA~1\\DCC'],
    [plain({ shortNames: false }), 'C:\\Program Files\\DCC'],
  ] as const) {
    const runner = new SimulatedRunner('/nonexistent/state.json', () => state);
    const raw = await runner.run(request);
    t.same(raw, { exitCode: 0, stdout: `${expected}\r\n`, stderr: '', timedOut: false }, 'the simulated PowerShell prints the path and CRLF');
    t.same(await readShortPath(runner, target, 'C:\\Program Files\\DCC', 'folder'), { ok: true, shortPath: expected });
  }
  const runner = new SimulatedRunner('/nonexistent/state.json', () => plain());
  const failed = await readShortPath(runner, target, 'relative\\path', 'file');
  t.equal(failed.ok, false);
  t.match(!failed.ok && failed.error, /PowerShell exit 1: Exception calling "GetFile"/);
});
