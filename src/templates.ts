import { readFileSync } from 'node:fs';

/** The one place that knows where the shipped templates live (next to dist/ in the package). */
const TEMPLATES = new URL('../templates/', import.meta.url);

export function readTemplate(name: string): Buffer {
  return readFileSync(new URL(name, TEMPLATES));
}

export function templatePath(name: string): URL {
  return new URL(name, TEMPLATES);
}
