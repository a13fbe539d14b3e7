import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A program on a real terminal (a tmux pane on a tmux server of its own), for the one
 * thing files cannot show: that prompts appear and take an answer. Only this server is
 * ever killed, by its own socket name.
 */
export class TerminalSession {
  private readonly socket: string;
  private readonly env: NodeJS.ProcessEnv;
  private closed = false;

  private constructor(socket: string, env: NodeJS.ProcessEnv) {
    this.socket = socket;
    this.env = env;
  }

  /** Starts `argv` (run directly, no shell) in a 160x50 pane whose working folder is `cwd`. */
  static async start(
    argv: string[],
    options: { env: NodeJS.ProcessEnv; cwd: string; /** An empty folder of this test's, for the socket and config. */ configDir: string },
  ): Promise<TerminalSession> {
    // A socket in our own folder: a server of its own, whatever tmux servers the user runs.
    const socket = path.join(options.configDir, 'tmux.sock');
    const config = path.join(options.configDir, 'tmux.conf');
    // The pane stays after the program ends, so its last screen can still be read.
    await writeFile(config, 'set-option -wg remain-on-exit on\n');
    const session = new TerminalSession(socket, options.env);
    process.once('exit', () => session.closeNow());
    session.tmux(['-f', config, 'new-session', '-d', '-s', 'smoke', '-x', '160', '-y', '50', '-c', options.cwd, '--', ...argv]);
    return session;
  }

  private tmux(args: string[]): string {
    return execFileSync('tmux', ['-S', this.socket, ...args], { env: this.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  }

  screen(): string {
    return this.tmux(['capture-pane', '-p', '-J', '-S', '-200', '-t', 'smoke']);
  }

  /** True once the program has closed the terminal. */
  private ended(): boolean {
    return this.tmux(['display-message', '-p', '-t', 'smoke', '#{pane_dead}']).trim() === '1';
  }

  /** Waits until the screen matches; throws with the screen when the program ends first or time runs out. */
  async waitFor(pattern: RegExp, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (pattern.test(this.screen())) return;
      if (this.ended() && !pattern.test(this.screen())) throw new Error(`the program ended without showing ${pattern}; it shows:\n${this.screen()}`);
      await sleep(250);
    }
    throw new Error(`the terminal never showed ${pattern}; it shows:\n${this.screen()}`);
  }

  /** Types keys as tmux names them (`y`, `Enter`). */
  send(...keys: string[]): void {
    for (const key of keys) this.tmux(['send-keys', '-t', 'smoke', key]);
  }

  /**
   * Waits for a file the program writes as its last act (a batch file's %ERRORLEVEL%) and
   * returns its text. Not tmux's pane_dead_status: tmux 3.3 sometimes never reaps a child
   * whose terminal closed first, and then has no status to give.
   */
  async waitForFile(hostPath: string, timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const text = await readFile(hostPath, 'utf8').catch(() => '');
      if (text.trim()) return text;
      if (this.ended()) {
        const last = await readFile(hostPath, 'utf8').catch(() => '');
        if (last.trim()) return last;
        throw new Error(`the program ended without writing ${hostPath}; it shows:\n${this.screen()}`);
      }
      await sleep(250);
    }
    throw new Error(`the program on the terminal did not end in time; it shows:\n${this.screen()}`);
  }

  private closeNow(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.tmux(['kill-server']);
    } catch {
      // The server had already gone.
    }
  }

  close(): void {
    this.closeNow();
  }
}
