/**
 * Why a profile folder's copy of the map needs copying, or null when it is in place. Only a
 * missing or empty copy does: dccproc rewrites the map it uses on every run (server response
 * times, back-off), so a copy that differs from DCC's own map is normal, not drift.
 */
export function mapCopyProblem(copy: Buffer | null): string | null {
  return copy === null ? 'is missing' : copy.length === 0 ? 'is empty' : null;
}
