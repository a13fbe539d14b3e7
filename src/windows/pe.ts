import { open } from 'node:fs/promises';

export type Bitness = 'x86' | 'x64' | 'arm64';

const DOS_HEADER_SIZE = 0x40;
const E_LFANEW_OFFSET = 0x3c;
const PE_SIGNATURE = Buffer.from('PE\0\0', 'latin1');

const MACHINE_TO_BITNESS: ReadonlyMap<number, Bitness> = new Map([
  [0x014c, 'x86'],
  [0x8664, 'x64'],
  [0xaa64, 'arm64'],
]);

const BITNESS_TO_MACHINE: Record<Bitness, number> = { x86: 0x014c, x64: 0x8664, arm64: 0xaa64 };

/**
 * Reads which CPU an executable was built for from its COFF `Machine` field. Only the two
 * headers are read (a few dozen bytes), never the whole binary. Null when the file is not
 * a PE image, is cut short, or names a machine we do not know; a missing or unreadable
 * file throws, because that is a different problem than "not an executable".
 */
export async function readPeBitness(hostPath: string): Promise<Bitness | null> {
  const file = await open(hostPath, 'r');
  try {
    const dos = Buffer.alloc(DOS_HEADER_SIZE);
    const dosRead = await file.read(dos, 0, DOS_HEADER_SIZE, 0);
    if (dosRead.bytesRead < DOS_HEADER_SIZE || dos.toString('latin1', 0, 2) !== 'MZ') return null;
    const peOffset = dos.readUInt32LE(E_LFANEW_OFFSET);
    // Real images put the PE header within the first few KiB; a huge offset means garbage.
    if (peOffset < DOS_HEADER_SIZE || peOffset > 0x10000) return null;
    const pe = Buffer.alloc(6);
    const peRead = await file.read(pe, 0, pe.length, peOffset);
    if (peRead.bytesRead < pe.length || !pe.subarray(0, 4).equals(PE_SIGNATURE)) return null;
    return MACHINE_TO_BITNESS.get(pe.readUInt16LE(4)) ?? null;
  } finally {
    await file.close();
  }
}

/**
 * A tiny file with just enough PE structure for `readPeBitness` (DOS header, PE signature,
 * COFF header, optional-header magic). It cannot run; demo images and tests use it in
 * place of a real mailserver.exe.
 */
export function makePeStub(bitness: Bitness): Buffer {
  const coffSize = 20;
  const stub = Buffer.alloc(DOS_HEADER_SIZE + PE_SIGNATURE.length + coffSize + 2);
  stub.write('MZ', 0, 'latin1');
  stub.writeUInt32LE(DOS_HEADER_SIZE, E_LFANEW_OFFSET);
  PE_SIGNATURE.copy(stub, DOS_HEADER_SIZE);
  const coff = DOS_HEADER_SIZE + PE_SIGNATURE.length;
  stub.writeUInt16LE(BITNESS_TO_MACHINE[bitness], coff);
  // Characteristics: executable image, and 32-bit machine for x86.
  stub.writeUInt16LE(bitness === 'x86' ? 0x0102 : 0x0022, coff + 18);
  // Optional header magic: PE32 (0x10b) for x86, PE32+ (0x20b) for 64-bit images.
  stub.writeUInt16LE(bitness === 'x86' ? 0x010b : 0x020b, coff + coffSize);
  return stub;
}
