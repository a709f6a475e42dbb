import type { BenchContext, ScenarioResult } from '../lib.js';
export async function memory(_ctx: BenchContext): Promise<ScenarioResult> {
  throw new Error('not yet');
}
