import path from 'node:path';
import { UsageError } from '../errors.js';

const win = path.win32;

/** A Windows path as the target server sees it, e.g. `C:\Program Files\Kerio\MailServer`. */
export type WinPath = string;

const DRIVE_ABSOLUTE = /^[A-Za-z]:\\/;

/** True for `C:\...`-style absolute paths (no UNC, no relative paths). */
export function isWindowsAbsolute(p: string): boolean {
  return DRIVE_ABSOLUTE.test(p.replace(/\//g, '\\'));
}

/** Normalises slashes and `..` so that one Windows path has one spelling. */
export function normalizeWin(p: WinPath): WinPath {
  const n = win.normalize(p.replace(/\//g, '\\'));
  return n.length > 3 && n.endsWith('\\') ? n.slice(0, -1) : n;
}

export function joinWin(...parts: string[]): WinPath {
  return normalizeWin(win.join(...parts));
}

export function dirnameWin(p: WinPath): WinPath {
  return win.dirname(p);
}

export function basenameWin(p: WinPath): string {
  return win.basename(p);
}

/** Case-insensitive containment, as Windows compares paths. */
export function isInsideWin(child: WinPath, parent: WinPath): boolean {
  const c = normalizeWin(child).toLowerCase();
  const p = normalizeWin(parent).toLowerCase();
  return c === p || c.startsWith(p.endsWith('\\') ? p : p + '\\');
}

export interface TargetOptions {
  /** Host folder standing for the target's system drive `C:\`; null for the live system. */
  root: string | null;
  /** Live system only: the running Node is 32-bit on 64-bit Windows, so System32 is redirected. */
  wow64Process?: boolean;
  /** Live system only: the real `%SystemRoot%`. */
  systemRoot?: WinPath;
}

/**
 * The one place where a target path becomes a path this process can open. Every file
 * operation goes through `toHost`, so tests and offline images only need another root.
 */
export class Target {
  readonly root: string | null;
  /** True when this Node is 32-bit on 64-bit Windows (live system only): System32 must be reached as Sysnative. */
  readonly wow64Process: boolean;
  readonly systemRoot: WinPath;

  constructor(options: TargetOptions) {
    this.root = options.root === null ? null : path.resolve(options.root);
    this.wow64Process = options.wow64Process ?? false;
    this.systemRoot = normalizeWin(options.systemRoot ?? 'C:\\Windows');
  }

  get isImage(): boolean {
    return this.root !== null;
  }

  /** Describes where the tool is working, for messages. */
  describe(): string {
    return this.root === null ? 'the live system' : `the image at ${this.root} (standing for C:\\)`;
  }

  toHost(p: WinPath): string {
    if (!isWindowsAbsolute(p)) {
      throw new UsageError(`"${p}" is not an absolute Windows path.`, 'Give paths as C:\\folder\\file.');
    }
    const n = normalizeWin(p);
    if (this.root === null) return this.redirectSystem32(n);
    const drive = n.slice(0, 2).toUpperCase();
    if (drive !== 'C:') {
      throw new UsageError(
        `${n} is on drive ${drive}, but --root stands for drive C: only.`,
        `Give a path on C: inside the image in the answers file, or run without --root on the server itself.`,
      );
    }
    const rest = n.slice(3).split('\\').filter(Boolean);
    return path.join(this.root, ...rest);
  }

  /** A 32-bit Node on 64-bit Windows must say Sysnative to reach the real System32. */
  private redirectSystem32(n: WinPath): string {
    if (!this.wow64Process) return n;
    const system32 = joinWin(this.systemRoot, 'System32');
    if (!isInsideWin(n, system32)) return n;
    return joinWin(this.systemRoot, 'Sysnative', n.slice(system32.length));
  }
}
