import type { Report } from '../model/report.js';
import type { RunContext } from '../model/context.js';
import { statusChecks } from '../status/checks.js';
import { dccSelfTest, rulesFolderHazards } from '../status/doctor.js';
import { concludeChecks } from './status.js';

export const DOCTOR_TIMEOUT_SECONDS = 20;

/** status, plus what defeats DCC silently, plus a live query-only self-test of dccproc. */
export async function runDoctor(ctx: RunContext, report: Report, timeoutSeconds: number): Promise<void> {
  const { checks, location, installFixes } = await statusChecks(ctx);
  const hazards = await rulesFolderHazards(ctx, location);
  const selfTest = await dccSelfTest(ctx, location, timeoutSeconds);
  report.data['dccproc'] = { version: selfTest.version, brand: selfTest.brand, serverId: selfTest.serverId };
  concludeChecks(ctx, report, [...checks, ...hazards, ...selfTest.checks], `Rules folder ${location.rulesDir}:`, installFixes);
}
