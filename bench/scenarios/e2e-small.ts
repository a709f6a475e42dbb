import type { BenchContext, ScenarioResult } from '../lib.js';
export async function e2eSmall(_ctx: BenchContext): Promise<ScenarioResult> {
  throw new Error('not yet');
}
