import { cp, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Target, joinWin, type WinPath } from '../target/target.js';
import { readTemplate, templateNames } from '../templates.js';
import { makePeStub, type Bitness } from '../windows/pe.js';

export interface ImageOptions {
  windows64: boolean;
  kerioBitness: Bitness;
  /** Line endings of the rule files: Kerio's Windows copies may be CRLF. */
  eol: 'crlf' | 'lf';
  /** A host folder whose files become the rules folder instead of the demo templates (e.g. a real SpamAssassin rule set). */
  rulesFrom?: string;
  /** Kerio's `score DCC_CHECK 0`, added to local.cf when the rules come from elsewhere. */
  addKerioZeroScore?: boolean;
}

export interface Image {
  root: string;
  installDir: WinPath;
  rulesDir: WinPath;
  map: WinPath;
}

export const DEMO_IMAGE: ImageOptions = { windows64: true, kerioBitness: 'x86', eol: 'crlf' };

/** A map file is binary: the demo's has NUL and high bytes, so a text-mode copy would show. */
export function demoMapBytes(): Buffer {
  const body = Buffer.alloc(4096);
  for (let i = 0; i < body.length; i++) body[i] = (i * 37 + 11) % 256;
  return Buffer.concat([Buffer.from('DCC map (kerio-dcc demo)\0', 'latin1'), body]);
}

function withEol(bytes: Buffer, eol: ImageOptions['eol']): Buffer {
  const lf = bytes.toString('latin1').replace(/\r\n/g, '\n');
  return Buffer.from(eol === 'crlf' ? lf.replace(/\n/g, '\r\n') : lf, 'latin1');
}

/** Lays out a folder that looks like a Windows server's C:\ drive with Kerio Connect and DCC unpacked. */
export async function buildImage(root: string, options: ImageOptions): Promise<Image> {
  const target = new Target({ root });
  const programFiles = options.windows64 && options.kerioBitness === 'x86' ? 'C:\\Program Files (x86)' : 'C:\\Program Files';
  const installDir = joinWin(programFiles, 'Kerio', 'MailServer');
  const rulesDir = joinWin(installDir, 'plugins', 'spamassassin', 'rules');
  const dirs = ['C:\\Users', 'C:\\Windows\\System32\\config\\systemprofile', rulesDir, 'C:\\sa\\etc\\dcc'];
  if (options.windows64) dirs.push('C:\\Windows\\SysWOW64\\config\\systemprofile');
  for (const d of dirs) await mkdir(target.toHost(d), { recursive: true });
  await writeFile(target.toHost(joinWin(installDir, 'mailserver.exe')), makePeStub(options.kerioBitness));
  await writeFile(target.toHost(joinWin(installDir, 'plugins', 'spamserver.exe')), makePeStub(options.kerioBitness));
  await writeFile(target.toHost('C:\\sa\\dccproc.exe'), makePeStub('x86'));
  await writeFile(target.toHost('C:\\sa\\etc\\dcc\\map'), demoMapBytes());

  const hostRules = target.toHost(rulesDir);
  if (options.rulesFrom) {
    await cp(options.rulesFrom, hostRules, { recursive: true });
    if (options.addKerioZeroScore) {
      const local = path.join(hostRules, 'local.cf');
      const before = await readFile(local).catch(() => Buffer.alloc(0));
      await writeFile(local, Buffer.concat([before, Buffer.from('\nscore DCC_CHECK 0\n', 'latin1')]));
    }
  } else {
    for (const name of templateNames('demo/rules/')) await writeFile(path.join(hostRules, name), readTemplate(`demo/rules/${name}`));
  }
  for (const name of await readdir(hostRules)) {
    if (!/\.(cf|pre)$/i.test(name)) continue;
    const file = path.join(hostRules, name);
    await writeFile(file, withEol(await readFile(file), options.eol));
  }
  return { root, installDir, rulesDir, map: 'C:\\sa\\etc\\dcc\\map' };
}
