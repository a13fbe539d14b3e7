// Loaded into a CLI child with --import: a disk that stores wrong bytes. Every write to a
// backup copy (a file opened in a `files` folder below FAILING_DISK_BELOW) lands with its first byte flipped,
// as a failing disk or a buggy filter driver would do. No real file system can be made to
// do this on demand, so this stand-in is the only way to prove the read-back check.
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import path from 'node:path';

const below = process.env.FAILING_DISK_BELOW;
const failing = new Set();

const openSync = fs.openSync;
fs.openSync = function (file, ...rest) {
  const fd = openSync.call(this, file, ...rest);
  if (below && String(file).startsWith(below) && String(file).includes(`${path.sep}files${path.sep}`)) failing.add(fd);
  return fd;
};
const closeSync = fs.closeSync;
fs.closeSync = function (fd, ...rest) {
  failing.delete(fd);
  return closeSync.call(this, fd, ...rest);
};
const writeSync = fs.writeSync;
fs.writeSync = function (fd, buffer, offset, length, position) {
  if (!failing.has(fd) || !Buffer.isBuffer(buffer) || (length ?? buffer.length) === 0) return writeSync.call(this, fd, buffer, offset, length, position);
  const start = offset ?? 0;
  const bad = Buffer.from(buffer.subarray(start, start + (length ?? buffer.length - start)));
  bad[0] ^= 0x01;
  return writeSync.call(this, fd, bad, 0, bad.length, position);
};
syncBuiltinESMExports();
