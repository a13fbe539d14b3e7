// A private DCC server (the real dccd) on 127.0.0.1, and client homes whose map lists it and
// nothing else: tests never contact the public DCC servers. Facts: ../shared/docs/dcc-build.md.
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import type { LinuxDcc } from './realDcc.js';
import { tempDir } from './cli.js';

type Teardown = { teardown(fn: () => unknown): void };

/** Private server-IDs are >= 100. */
export const SERVER_ID = 1000;
/** The authenticated client-ID the client maps use. */
export const CLIENT_ID = 32768;
export const CLIENT_PASSWORD = 'kerio-dcc-client';
const SERVER_PASSWORD = 'kerio-dcc-server';

export interface DccServer {
  brand: string;
  port: number;
  /** The server's own home folder (database, ids). */
  home: string;
  pid: number;
  /** How many reports the server has counted since it started (`cdcc stats`, read only: no id, so nothing is cleared). */
  reports(): Promise<number>;
  /** Stops it: `cdcc "id 1000" stop`, then by PID. Idempotent. */
  stop(): Promise<void>;
  running(): boolean;
}

/** A UDP port on 127.0.0.1 that nothing listens on right now. */
export async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => socket.once('error', reject).bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** A UDP port bound by the test that never answers: a server behind a firewall that drops packets. */
export async function silentUdpPort(t: Teardown): Promise<number> {
  const socket = dgram.createSocket('udp4');
  socket.on('message', () => {});
  await new Promise<void>((resolve, reject) => socket.once('error', reject).bind(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return socket.address().port;
}

async function cdcc(dcc: LinuxDcc, home: string, ...commands: string[]): Promise<string> {
  const r = await execa(dcc.cdcc, ['-h', home, ...commands], { reject: false, all: true, timeout: 30_000 });
  if (r.exitCode !== 0) throw new Error(`cdcc ${commands.join(' ')} failed (exit ${r.exitCode}): ${r.all}`);
  return r.stdout;
}

/** Starts a real dccd on 127.0.0.1 (a free port unless given), stopped at the test's teardown. */
export async function startDccServer(t: Teardown, dcc: LinuxDcc, options: { brand?: string; port?: number } = {}): Promise<DccServer> {
  const brand = options.brand ?? 'KerioDccTest';
  const home = await tempDir(t, 'kerio-dcc-dccd-');
  // dccd refuses an ids file that others can read; server-ID 1000 gets a password so cdcc can stop it.
  await writeFile(path.join(home, 'ids'), `${CLIENT_ID} ${CLIENT_PASSWORD}\n${SERVER_ID} ${SERVER_PASSWORD}\n`, { mode: 0o600 });
  await execa(dcc.dbclean, ['-S', '-N', '-q', '-h', home], { all: true });
  const port = options.port ?? (await freeUdpPort());
  const child: ChildProcess = spawn(dcc.dccd, ['-b', '-i', String(SERVER_ID), '-n', brand, '-h', home, '-a', `127.0.0.1,${port}`, '-C', dcc.dbclean], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  let exited = false;
  // A test process that dies without its teardown must not leave a dccd behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.on('exit', () => {
    exited = true;
    process.removeListener('exit', killOnExit);
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dccd did not start listening on 127.0.0.1,${port} within 20 s: ${log}`)), 20_000);
    child.stderr!.on('data', (d) => {
      log += d;
      if (/listening to port/.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`dccd exited (${code}) before listening: ${log}`));
    });
  });
  const server: DccServer = {
    brand,
    port,
    home,
    pid: child.pid!,
    running: () => !exited,
    async reports() {
      const stats = await cdcc(dcc, home, 'host 127.0.0.1', `port ${port}`, 'stats');
      const count = /^\s*(\d+) reports\b/m.exec(stats);
      if (!count) throw new Error(`no report count in cdcc stats: ${stats}`);
      return Number(count[1]);
    },
    async stop() {
      if (exited) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      await cdcc(dcc, home, 'host 127.0.0.1', `port ${port}`, `id ${SERVER_ID}`, 'stop').catch(() => {});
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      if (!exited) await gone;
      clearTimeout(timer);
    },
  };
  t.teardown(() => server.stop());
  return server;
}

/**
 * A DCC client home whose map lists only 127.0.0.1,PORT (made by the real cdcc, so each test
 * starts without a back-off left by another), and an empty whiteclnt (SpamAssassin passes
 * `-w whiteclnt`). "IPv6 off" comes before "add" so cdcc makes no probe of its own.
 */
export async function clientHome(dcc: LinuxDcc, home: string, port: number): Promise<string> {
  await mkdir(home, { recursive: true });
  await cdcc(dcc, home, 'new map', 'IPv6 off', `add 127.0.0.1,${port} RTT+0 ms ${CLIENT_ID} ${CLIENT_PASSWORD}`);
  await writeFile(path.join(home, 'whiteclnt'), '');
  return home;
}

/** The servers a client home's map lists, as `cdcc info` prints them (host,port per entry). */
export async function mapServers(dcc: LinuxDcc, home: string): Promise<{ entries: string[]; info: string }> {
  const info = await cdcc(dcc, home, 'info');
  const entries = info
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#') && !/^IPv6 /.test(l))
    .map((l) => l.trim().split(/\s+/)[0]!);
  return { entries, info };
}
