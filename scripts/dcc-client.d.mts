// Types of scripts/dcc-client.mjs, for the tests that share its recipe (test/helpers/realDcc.ts).
export const DCC_VERSION: string;
export const DCC_TARBALL_SHA256: string;
export const DCC_URL: string;
export const MINGW_CC: string;
export const MINGW_AR: string;
export const RECIPE_HASH: string;
export class DccBuildError extends Error {
  exitCode: number;
}
export function sha256(bytes: Uint8Array): string;
export function tarballProblem(tarball: string): Promise<string | false>;
export function buildWindowsClient(tarball: string, out: string, scratch: string): Promise<void>;
export function buildLinuxDcc(tarball: string, out: string, scratch: string, options?: { jobs?: number }): Promise<void>;
export function makeClientPackage(options: { out: string; tarball?: string | null; url?: string }): Promise<void>;
