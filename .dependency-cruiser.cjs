/**
 * The layers of src/, top to bottom. A module may import from its own layer and the layers
 * below it, never from one above: so the tree stays readable from the top (the command
 * line) down (the files and processes), and there is no import cycle between folders.
 * `npm run lint:deps` checks it (part of `npm test`).
 */
const LAYERS = [
  ['cli'],
  ['ui'],
  ['commands'],
  ['status'],
  ['engine'],
  ['plans'],
  ['managed'],
  ['store', 'log'],
  ['trust'],
  ['detect', 'demo'],
  ['model'],
  ['answers'],
  ['patch'],
  // The simulated Windows tools answer with what the real ones print, so they sit above the wrappers that read it.
  ['system/simulated'],
  ['windows'],
  ['system'],
  ['target', 'text', 'fs'],
];

// A layer is a folder, or for system/simulated a family of files (system/simulated.ts, system/simulated/, system/simulatedPowershell.ts...).
const folder = (names) =>
  `^src/(${names.map((n) => (n === 'system' ? 'system/(?!simulated)' : n === 'system/simulated' ? 'system/simulated' : `${n}/`)).join('|')})`;

module.exports = {
  forbidden: [
    ...LAYERS.slice(1).map((layer, i) => ({
      name: `no-up-from-${layer.join('-')}`,
      comment: `src/${layer.join(', src/')} may not import from a layer above it (${LAYERS.slice(0, i + 1)
        .flat()
        .join(', ')})`,
      severity: 'error',
      from: { path: folder(layer) },
      to: { path: folder(LAYERS.slice(0, i + 1).flat()) },
    })),
    {
      name: 'no-circular',
      comment: 'modules may not depend on each other in a circle',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'src-not-to-test',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|scripts|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
