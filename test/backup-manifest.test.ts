import t from 'tap';
import { manifestText, type Manifest, type ManifestFile } from '../src/backup/manifest.js';

function manifestWith(files: ManifestFile[]): Manifest {
  return {
    schema: 1,
    tool: 'kerio-dcc',
    toolVersion: '0.1.0',
    id: '20261127T120000Z',
    command: 'install',
    createdAt: '2026-11-27T12:00:00.000Z',
    finishedAt: null,
    status: 'applying',
    target: { root: null, rulesDir: 'C:\\Program Files\\Kerio\\MailServer\\plugins\\spamassassin\\rules', installDir: 'C:\\Program Files\\Kerio\\MailServer', service: 'KerioMailServer' },
    answersFile: 'D:\\ops\\dcc "prod".ini',
    changes: ['local-cf', 'v310-pre'],
    files,
    created: [{ type: 'dir', path: 'C:\\Windows\\SysWOW64\\config\\systemprofile\\.spamassassin' }],
    firewall: [],
    skipped: ['C:\\rules\\link.cf (a link or junction: not followed)'],
  };
}

function filesOf(count: number): ManifestFile[] {
  return Array.from({ length: count }, (_, i) => ({
    path: `C:\\Program Files\\Kerio\\rules\\sub ${i % 7}\\Régle_${i}.cf`,
    backup: `files/C/Program Files/Kerio/rules/sub ${i % 7}/Régle_${i}.cf`,
    size: i * 13,
    sha256: i.toString(16).padStart(64, '0'),
    ...(i % 3 === 0 ? { after: i % 2 ? null : 'f'.repeat(64) } : {}),
  }));
}

t.test('the manifest written in pieces is exactly the JSON of the whole, with the file list last', async (t) => {
  for (const count of [0, 1, 499, 500, 501, 1234]) {
    const manifest = manifestWith(filesOf(count));
    const pieces = [...manifestText(manifest)];
    const { files, ...rest } = manifest;
    t.equal(pieces.join(''), JSON.stringify({ ...rest, files }, null, 2) + '\n', `${count} file(s): same text as one JSON.stringify`);
    t.same(JSON.parse(pieces.join('')), manifest, `${count} file(s): reads back as the same manifest`);
    if (count > 1000) t.ok(pieces.length > 3 && Math.max(...pieces.map((p) => p.length)) < pieces.join('').length / 2, `${count} files: written in ${pieces.length} pieces, none holding most of it`);
  }
});
