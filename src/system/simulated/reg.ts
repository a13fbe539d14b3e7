/**
 * The simulated `reg.exe`, for the one question kerio-dcc asks it: the machine's OEM code
 * page (system/codePage.ts). The answer is laid out as reg printed it under Wine 8 for a
 * Czech prefix (blank line, key, value line, blank line), with the state's code page.
 */
import { CODEPAGE_KEY } from '../codePage.js';
import { lines, result, unsupported } from './output.js';
import { simCodePage, type SimState } from './state.js';
import type { CommandResult } from '../runner.js';

export function runReg(state: SimState, args: string[]): CommandResult {
  const [verb, key, flag, value] = args;
  if (
    args.length !== 4 ||
    verb?.toLowerCase() !== 'query' ||
    key?.toLowerCase() !== CODEPAGE_KEY.toLowerCase() ||
    flag?.toLowerCase() !== '/v' ||
    value?.toUpperCase() !== 'OEMCP'
  ) {
    return unsupported('reg.exe', args);
  }
  const fullKey = `HKEY_LOCAL_MACHINE${CODEPAGE_KEY.slice('HKLM'.length)}`;
  return result(0, lines('', fullKey, `    OEMCP    REG_SZ    ${simCodePage(state)}`, ''));
}
