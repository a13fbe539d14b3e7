// Loaded into a CLI child with --import: records every file the child opens (flags, path) and
// writes the list to OPEN_LOG at exit, so a test can see how often each file was read.
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

const opens = [];
const record = (file, flags) => opens.push(`${typeof flags === 'string' ? flags : String(flags ?? 'r')}\t${file}`);

const openSync = fs.openSync;
fs.openSync = function (file, flags, ...rest) {
  record(file, flags);
  return openSync.call(this, file, flags, ...rest);
};
const open = fs.promises.open;
fs.promises.open = function (file, flags, ...rest) {
  record(file, flags);
  return open.call(this, file, flags, ...rest);
};
syncBuiltinESMExports();

process.on('exit', () => fs.writeFileSync(process.env.OPEN_LOG, opens.join('\n')));
