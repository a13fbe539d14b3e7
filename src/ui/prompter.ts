import type { Prompter } from '../model/context.js';
import { InterruptedError } from '../errors.js';

/** Prompts only ever appear on a terminal; without one the tool never waits for input. */
export function isInteractive(): boolean {
  return Boolean(process.stdin.isTTY && process.stdout.isTTY) && process.env['CI'] !== 'true';
}

function isPromptExit(err: unknown): boolean {
  return err instanceof Error && err.name === 'ExitPromptError';
}

/** inquirer is imported at the first question only, so unattended runs never load it. */
export function inquirerPrompter(): Prompter {
  const ask = async <T>(question: Record<string, unknown>): Promise<T> => {
    const { default: inquirer } = await import('inquirer');
    try {
      const answer = await inquirer.prompt([{ ...question, name: 'value' }] as never);
      return (answer as { value: T }).value;
    } catch (err) {
      if (isPromptExit(err)) throw new InterruptedError();
      throw err;
    }
  };
  return {
    input: (message, defaultValue, validate) => ask<string>({ type: 'input', message, default: defaultValue, validate }),
    confirm: (message, defaultValue) => ask<boolean>({ type: 'confirm', message, default: defaultValue }),
  };
}
