import type { RunOptions } from '../lib/stage.js';
import type { ScenarioResult } from '../lib/tally.js';

export interface Scenario {
  /** Stable id: results and docs are keyed by it. */
  name: string;
  run(opts: RunOptions): Promise<ScenarioResult>;
}
