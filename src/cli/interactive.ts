import { ExitCode, KerioDccError } from '../errors.js';

/** Prompts only ever appear on a terminal; without one the tool never waits for input. */
export function isInteractive(): boolean {
  return Boolean(process.stdin.isTTY && process.stdout.isTTY) && process.env['CI'] !== 'true';
}

function isPromptExit(err: unknown): boolean {
  return err instanceof Error && err.name === 'ExitPromptError';
}

export class InterruptedError extends KerioDccError {
  constructor() {
    super(ExitCode.interrupted, 'Interrupted at the prompt.', 'Nothing was changed.');
  }
}

/** Asks a yes/no question; inquirer is loaded here only, so unattended runs never pay for it. */
export async function confirm(message: string): Promise<boolean> {
  const { default: inquirer } = await import('inquirer');
  try {
    const answer = await inquirer.prompt<{ ok: boolean }>([{ type: 'confirm', name: 'ok', message, default: false }]);
    return answer.ok;
  } catch (err) {
    if (isPromptExit(err)) throw new InterruptedError();
    throw err;
  }
}
