import { readFileSync, readdirSync } from 'node:fs';

/**
 * Set only in the single-file build (scripts/build-exe.mjs defines it): every file under
 * templates/, base64, by its name there. The executable has no templates folder beside it.
 */
declare const KERIO_DCC_EMBEDDED_TEMPLATES: Readonly<Record<string, string>> | undefined;

const EMBEDDED = typeof KERIO_DCC_EMBEDDED_TEMPLATES === 'undefined' ? null : KERIO_DCC_EMBEDDED_TEMPLATES;

/** True in kerio-dcc.exe (the single-file build), false when Node runs the package. */
export const IS_EXECUTABLE = EMBEDDED !== null;

/** The one place that knows where the shipped templates live (next to dist/ in the package). */
function templatesFolder(): URL {
  return new URL('../templates/', import.meta.url);
}

export function readTemplate(name: string): Buffer {
  if (EMBEDDED === null) return readFileSync(new URL(name, templatesFolder()));
  const base64 = EMBEDDED[name];
  if (base64 === undefined) throw new Error(`The template ${name} is not built into this executable.`);
  return Buffer.from(base64, 'base64');
}

/** Names of the files directly in a template folder (e.g. `demo/rules/`), sorted; works in the executable too. */
export function templateNames(folder: string): string[] {
  const prefix = folder.endsWith('/') ? folder : `${folder}/`;
  if (EMBEDDED === null) {
    return readdirSync(new URL(prefix, templatesFolder()), { withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => e.name)
      .sort();
  }
  return Object.keys(EMBEDDED)
    .filter((k) => k.startsWith(prefix) && !k.slice(prefix.length).includes('/'))
    .map((k) => k.slice(prefix.length))
    .sort();
}
