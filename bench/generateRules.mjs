// Fills a rules folder with files that look like a grown SpamAssassin rule set, the same
// bytes on every run (a seeded generator), so timings compare across machines and days.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** mulberry32: small, fast, and enough for picking sizes and words reproducibly. */
function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = [
  'invoice',
  'pharmacy',
  'lottery',
  'winner',
  'account',
  'verify',
  'urgent',
  'discount',
  'casino',
  'credit',
  'refund',
  'bitcoin',
  'shipment',
  'password',
  'offer',
  'unsubscribe',
  'prize',
  'loan',
  'replica',
  'deal',
  'payment',
  'bank',
  'transfer',
  'beneficiary',
  'inheritance',
  'mortgage',
  'pills',
  'watch',
  'dating',
  'stock',
];

/** Rule-like lines (header, body, uri, meta, with describe and score) up to about `bytes` long. */
function ruleText(random, fileNo, bytes) {
  const pick = () => WORDS[Math.floor(random() * WORDS.length)];
  const lines = [
    `# kerio-dcc benchmark rule file ${fileNo}: generated, not a real rule set`,
    '#',
    '# Rules below are shaped like SpamAssassin rules so that the tool sees realistic lines.',
    '',
  ];
  let size = lines.join('\r\n').length;
  for (let rule = 0; size < bytes; rule++) {
    const name = `BENCH_${fileNo}_${rule}`;
    const a = pick();
    const b = pick();
    const kind = rule % 4;
    const test =
      kind === 0
        ? `header   ${name}  Subject =~ /\\b(?:${a}|${b})\\b/i`
        : kind === 1
          ? `body     ${name}  /\\b${a}\\s+(?:now|today|${b})\\b/i`
          : kind === 2
            ? `uri      ${name}  /${a}[-.]${b}\\.example\\b/i`
            : `meta     ${name}  (BENCH_${fileNo}_${rule - 1} && !BENCH_${fileNo}_${rule - 2})`;
    const block = [
      test,
      `describe ${name}  Mentions ${a} together with ${b}`,
      `score    ${name}  ${(random() * 3).toFixed(3)} ${(random() * 3).toFixed(3)} ${(random() * 3).toFixed(3)} ${(random() * 3).toFixed(3)}`,
      '',
    ];
    lines.push(...block);
    size += block.join('\r\n').length + 2;
  }
  return Buffer.from(lines.join('\r\n') + '\r\n', 'latin1');
}

/** Mostly a few KB, some larger, a rare big one: roughly the spread of upstream rule files. */
function fileSize(random) {
  const r = random();
  if (r < 0.8) return 1024 + Math.floor(random() * 4096);
  if (r < 0.98) return 5120 + Math.floor(random() * 7168);
  return 16384 + Math.floor(random() * 32768);
}

/**
 * Adds `count` files to a rules folder: 85% top-level `.cf` files, 10% `.cf` files in
 * subfolders (one and two levels deep), 5% other files (checksums, notes). None carries
 * `DCC_CHECK`, so install changes only what it changes on the demo image.
 * Returns the number of bytes written.
 */
export async function addGeneratedRules(hostRulesDir, count, seed = 1) {
  const random = seededRandom(seed);
  const subfolders = ['channel_a', 'channel_b', path.join('channel_b', 'updates'), 'custom', path.join('custom', 'team')];
  for (const sub of subfolders) await mkdir(path.join(hostRulesDir, sub), { recursive: true });
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const r = random();
    const subfolder = path.join(hostRulesDir, subfolders[i % subfolders.length]);
    let file;
    let content;
    if (r < 0.85) {
      file = path.join(hostRulesDir, `${String(60 + (i % 30)).padStart(2, '0')}_bench_${i}.cf`);
      content = ruleText(random, i, fileSize(random));
    } else if (r < 0.95) {
      file = path.join(subfolder, `bench_${i}.cf`);
      content = ruleText(random, i, fileSize(random));
    } else if (i % 2 === 0) {
      file = path.join(i % 4 === 0 ? hostRulesDir : subfolder, `bench_${i}.cf.sha256`);
      content = Buffer.from(
        `${Math.floor(random() * 2 ** 52)
          .toString(16)
          .padStart(64, '0')}  bench_${i}.cf\n`,
        'latin1',
      );
    } else {
      file = path.join(subfolder, `bench_${i}.txt`);
      content = Buffer.from(`Notes on rule set ${i}: generated for the kerio-dcc benchmark.\r\n`.repeat(20), 'latin1');
    }
    await writeFile(file, content);
    bytes += content.length;
  }
  return bytes;
}
