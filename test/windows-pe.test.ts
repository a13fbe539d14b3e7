import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { makePeStub, readPeBitness, type Bitness } from '../src/windows/pe.js';

const dir = await mkdtemp(path.join(os.tmpdir(), 'kerio-dcc-pe-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

async function fileWith(name: string, bytes: Buffer): Promise<string> {
  const p = path.join(dir, name);
  await writeFile(p, bytes);
  return p;
}

t.test('the bitness of an executable is read from its COFF Machine field', async (t) => {
  for (const bitness of ['x86', 'x64', 'arm64'] as Bitness[]) {
    t.equal(await readPeBitness(await fileWith(`${bitness}.exe`, makePeStub(bitness))), bitness);
  }
});

t.test('the stub carries the machine numbers Windows uses', async (t) => {
  const machineOf = (b: Buffer) => b.readUInt16LE(b.readUInt32LE(0x3c) + 4);
  t.equal(machineOf(makePeStub('x86')), 0x14c);
  t.equal(machineOf(makePeStub('x64')), 0x8664);
  t.equal(machineOf(makePeStub('arm64')), 0xaa64);
  t.equal(makePeStub('x64').toString('latin1', 0, 2), 'MZ');
});

t.test('files that are not PE images give null instead of a guess', async (t) => {
  const stub = makePeStub('x64');
  const noPeSignature = Buffer.from(stub);
  noPeSignature.write('NE', 0x40, 'latin1');
  const unknownMachine = Buffer.from(stub);
  unknownMachine.writeUInt16LE(0x01c4, 0x44);
  const offsetPastEnd = Buffer.from(stub);
  offsetPastEnd.writeUInt32LE(0x8000, 0x3c);
  const cases: Array<[string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['cut inside the DOS header', stub.subarray(0, 30)],
    ['cut inside the PE header', stub.subarray(0, 0x43)],
    ['text, not MZ', Buffer.from('#!/bin/sh\necho this is not an exe, but it is long enough to have a DOS header\n')],
    ['garbage', Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 37 + 11) & 0xff))],
    ['no PE signature', noPeSignature],
    ['an unknown machine (ARM Thumb-2)', unknownMachine],
    ['e_lfanew past the end', offsetPastEnd],
  ];
  for (const [what, bytes] of cases) {
    t.equal(await readPeBitness(await fileWith(`${what.replace(/\W+/g, '-')}.bin`, bytes)), null, what);
  }
});

t.test('a missing file is an error, not "not an executable"', async (t) => {
  await t.rejects(readPeBitness(path.join(dir, 'missing.exe')), { code: 'ENOENT' });
});

t.test('only the headers are read, so a huge executable costs nothing', async (t) => {
  // A sparse 3 GiB file: reading it whole would fail (larger than a Buffer may be) or take seconds.
  const big = path.join(dir, 'huge.exe');
  await writeFile(big, makePeStub('x64'));
  const handle = await open(big, 'r+');
  await handle.truncate(3 * 1024 ** 3);
  await handle.close();
  const started = Date.now();
  t.equal(await readPeBitness(big), 'x64');
  t.ok(Date.now() - started < 1000, 'answers at once');
});

/** A stub whose PE header sits at `offset` (the file grows to hold it), with e_lfanew pointing there. */
function stubWithHeaderAt(offset: number, bitness: Bitness = 'x64'): Buffer {
  const stub = makePeStub(bitness);
  const header = stub.subarray(0x40);
  const file = Buffer.alloc(Math.max(offset + header.length, 0x40));
  stub.copy(file, 0, 0, 0x40);
  header.copy(file, offset);
  file.writeUInt32LE(offset, 0x3c);
  return file;
}

// Each check is the only one that refuses its input: the cases above are refused by more than one.
t.test('each header check refuses on its own what passes every other check', async (t) => {
  const noMz = makePeStub('x64');
  noMz.write('ZM', 0, 'latin1');
  t.equal(await readPeBitness(await fileWith('zm.exe', noMz)), null, 'a valid PE header behind "ZM" instead of "MZ"');
  t.equal(await readPeBitness(await fileWith('inside-dos.exe', stubWithHeaderAt(0x04))), null, 'a PE header inside the DOS header (e_lfanew below 0x40)');
  t.equal(await readPeBitness(await fileWith('at-64k.exe', stubWithHeaderAt(0x10000))), 'x64', 'a PE header at 64 KiB is still read');
  t.equal(await readPeBitness(await fileWith('past-64k.exe', stubWithHeaderAt(0x10008))), null, 'one past 64 KiB is taken for garbage');
});

t.test('every file opened to read the bitness is closed again', { skip: process.platform === 'linux' ? false : 'counts /proc/self/fd' }, async (t) => {
  const exe = await fileWith('closed.exe', makePeStub('x86'));
  const open = async () => (await import('node:fs/promises')).readdir('/proc/self/fd').then((fds) => fds.length);
  const before = await open();
  for (let i = 0; i < 20; i++) await readPeBitness(exe);
  t.equal(await open(), before, 'as many descriptors open as before');
});

t.test("the stub's other header fields match its bitness, as a real image's do", async (t) => {
  const coff = 0x40 + 4;
  for (const [bitness, characteristics, magic] of [
    ['x86', 0x0102, 0x010b],
    ['x64', 0x0022, 0x020b],
  ] as const) {
    const stub = makePeStub(bitness);
    t.equal(stub.readUInt16LE(coff + 18), characteristics, `${bitness}: COFF characteristics`);
    t.equal(stub.readUInt16LE(coff + 20), magic, `${bitness}: optional header magic (PE32 or PE32+)`);
  }
});
