/** The simulated `net.exe session`: exit 0 elevated, exit 2 and "System error 5" not. */
import { lines, result, unsupported } from './output.js';
import { TEXTS } from './recordings.js';
import type { SimState } from './state.js';
import type { CommandResult } from '../runner.js';

export function runNet(state: SimState, args: string[]): CommandResult {
  const texts = TEXTS[state.language];
  if (args.length !== 1 || args[0]!.toLowerCase() !== 'session') return unsupported('net.exe', args);
  if (state.elevated) return result(0, lines(texts.netNoEntries, ''));
  return result(2, '', lines(texts.netSystemError5, ''));
}
