import t from 'tap';
import { SimulatedRunner, type SimState } from '../src/system/simulated.js';
import { Target } from '../src/target/target.js';
import { decodePowershell, powershellPath, powershellRequest, psLiteral, scriptText } from '../src/windows/powershell.js';

const target = new Target({ root: '/tmp/kerio-dcc-ps-image' });
const awkward = 'C:\\Program Files\\Kerio\'s "Mail" Služby\\$env:x `n; & | < >';

t.test('PowerShell is called by absolute path, and 32-bit Node on 64-bit Windows says Sysnative', async (t) => {
  t.equal(powershellPath(target), 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe');
  const wow = new Target({ root: null, wow64Process: true, systemRoot: 'C:\\Windows' });
  t.equal(powershellPath(wow), 'C:\\Windows\\Sysnative\\WindowsPowerShell\\v1.0\\powershell.exe');
  const windows = new Target({ root: null, systemRoot: 'C:\\Windows' });
  t.equal(powershellPath(windows), 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe', '64-bit Node on Windows');
  const imageWow = new Target({ root: '/tmp/image', wow64Process: true });
  t.equal(powershellPath(imageWow), 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe', 'an image has no WOW64 redirection');
});

t.test('a script travels base64-encoded, so no command-line parser ever sees a path', async (t) => {
  const request = powershellRequest(target, { kind: 'get-thing', params: { path: awkward }, body: 'Get-Item -LiteralPath $path' }, { mutates: false });
  t.same(request.args.slice(0, -1), ['-NoLogo', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-EncodedCommand']);
  t.match(request.args.at(-1), /^[A-Za-z0-9+/]+=*$/, 'only base64 characters on the command line');
  t.equal(request.mutates, false);
  const decoded = decodePowershell(request.args);
  t.ok(decoded, 'the script reads back');
  t.equal(decoded!.kind, 'get-thing');
  t.same(decoded!.params, { path: awkward }, 'the parameter comes back byte for byte');
  t.match(decoded!.text, /\nGet-Item -LiteralPath \$path$/);
});

t.test('parameters are single-quoted literals: nothing in them is expanded or run', async (t) => {
  t.equal(psLiteral("it's $x `y"), "'it''s $x `y'");
  t.throws(() => psLiteral('two\nlines'), /line break/);
  t.throws(() => scriptText({ kind: 'x', params: { 'bad name': 'v' }, body: '' }), /parameter name/);
  t.throws(() => scriptText({ kind: 'Bad Kind', params: {}, body: '' }), /kind/);
});

t.test('the simulation refuses a script it does not model, loudly', async (t) => {
  const state: SimState = { schema: 1, elevated: true, services: {}, firewall: [], language: 'en' };
  const runner = new SimulatedRunner('/nonexistent/state.json', () => state);
  const unknown = await runner.run(powershellRequest(target, { kind: 'no-such-kind', params: {}, body: '' }, { mutates: false }));
  t.equal(unknown.exitCode, 1);
  t.match(unknown.stderr, /does not handle the script kind "no-such-kind"/);
  const raw = await runner.run({ program: powershellPath(target), args: ['-Command', 'Get-Date'], mutates: false });
  t.equal(raw.exitCode, 1);
  t.match(raw.stderr, /without a kerio-dcc script/);
});

// ------------------------------------------------- checks that mutation testing found untested

t.test('every script starts with the same preamble: stop at the first error, no progress bars, UTF-8 out', async (t) => {
  t.equal(
    scriptText({ kind: 'get-acl', params: { path: "C:\\it's" }, body: 'Get-Acl -LiteralPath $path' }),
    [
      '# kerio-dcc: get-acl',
      "$path = 'C:\\it''s'",
      '# kerio-dcc: body',
      "$ErrorActionPreference = 'Stop'",
      "$ProgressPreference = 'SilentlyContinue'",
      '[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false',
      'Get-Acl -LiteralPath $path',
    ].join('\n'),
  );
  t.throws(() => scriptText({ kind: 'get-acl now', params: {}, body: '' }), /kind/, 'a kind is one word');
});

t.test('the request asks for UTF-8 output, and carries a time limit only when given one', async (t) => {
  const script = { kind: 'x', params: {}, body: '' };
  const plain = powershellRequest(target, script, { mutates: true });
  t.equal(plain.output, 'utf8');
  t.equal(plain.mutates, true);
  t.notOk('timeoutMs' in plain, 'no time limit of its own');
  t.equal(powershellRequest(target, script, { mutates: false, timeoutMs: 5000 }).timeoutMs, 5000);
});

t.test('a script that kerio-dcc did not build, or that was altered, does not decode', async (t) => {
  const encode = (text: string) => ['-EncodedCommand', Buffer.from(text, 'utf16le').toString('base64')];
  t.same(
    decodePowershell(encode("# kerio-dcc: get-acl\n$path = 'C:\\x'\n# kerio-dcc: body\nGet-Acl")),
    { kind: 'get-acl', params: { path: 'C:\\x' }, text: "# kerio-dcc: get-acl\n$path = 'C:\\x'\n# kerio-dcc: body\nGet-Acl" },
    'the encoded script may come first',
  );
  for (const text of [
    'Get-Date',
    '# kerio-dcc: get-acl extra\n# kerio-dcc: body',
    "# kerio-dcc: get-acl\n$path = 'C:\\x'; Remove-Item C:\\\n# kerio-dcc: body",
    '# kerio-dcc: get-acl\nRemove-Item C:\\\n# kerio-dcc: body',
    "# kerio-dcc: get-acl\n$path = 'C:\\x'",
  ]) {
    t.equal(decodePowershell(encode(text)), null, JSON.stringify(text));
  }
  t.equal(decodePowershell(['-NoProfile']), null, 'no -EncodedCommand at all');
});
