// Reads a backup through the built store (dist/) and walks its file list twice: run with a
// small heap by test/backup-store-memory.test.ts to show the reader holds no list in memory.
import { readManifest } from '../../dist/store/format.js';

const manifest = await readManifest(process.argv[2]);
let walked = 0;
let bytes = 0;
for (let pass = 0; pass < 2; pass++) {
  for await (const f of manifest.files) {
    walked++;
    bytes += f.size;
  }
}
process.stdout.write(JSON.stringify({ count: manifest.files.count, walked, bytes }));
