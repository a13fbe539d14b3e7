import { readFileSync } from 'node:fs';

/** Set only in the single-file build (scripts/build-exe.mjs defines it): the executable has no package.json beside it. */
declare const KERIO_DCC_EMBEDDED_VERSION: string | undefined;

/** The tool's version, from package.json: the one place it is written. */
export const TOOL_VERSION: string =
  typeof KERIO_DCC_EMBEDDED_VERSION === 'string'
    ? KERIO_DCC_EMBEDDED_VERSION
    : (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
