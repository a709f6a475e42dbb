/**
 * Reads the scenario's completion-event stream from the start and lets the suite wait until a
 * set of assets has all been announced (terminal), with a deadline. The database stays the
 * judge of final states; the events are what the suite waits on (no sleeps, no polling).
 */
import { type AssetEvent, type Redis, subscribeAssetEvents, TERMINAL_STATUSES } from '../../packages/jobs/src/index.js';

export class EventTracker {
  /** First terminal event per asset. */
  readonly terminal = new Map<string, AssetEvent>();
  /** Every event seen, in order (an asset announced twice shows up twice). */
  readonly all: AssetEvent[] = [];
  readonly ready: Promise<void>;
  private readonly listeners = new Set<() => void>();
  private readonly sub: ReturnType<typeof subscribeAssetEvents>;

  constructor(redis: Redis, prefix: string) {
    this.sub = subscribeAssetEvents(
      redis,
      prefix,
      ({ event }) => {
        this.all.push(event);
        if ((TERMINAL_STATUSES as readonly string[]).includes(event.status) && !this.terminal.has(event.assetId)) this.terminal.set(event.assetId, event);
        for (const l of this.listeners) l();
      },
      { from: '0', blockMs: 500 },
    );
    this.ready = this.sub.ready;
  }

  /** Resolves when every id has a terminal event, or at `deadline` (epoch ms) with those still missing. */
  async waitAll(ids: Iterable<string>, deadline: number): Promise<{ pending: string[] }> {
    const wanted = [...new Set(ids)];
    const missing = () => wanted.filter((id) => !this.terminal.has(id));
    await this.waitUntil(() => missing().length === 0, deadline);
    return { pending: missing() };
  }

  /** Resolves true once `cond()` holds (checked on every event), or false at `deadline`. */
  waitUntil(cond: () => boolean, deadline: number): Promise<boolean> {
    return new Promise((resolve) => {
      const check = () => {
        const ok = cond();
        if (ok || Date.now() >= deadline) {
          clearTimeout(timer);
          this.listeners.delete(check);
          resolve(ok);
        }
      };
      const timer = setTimeout(check, Math.max(0, deadline - Date.now()));
      this.listeners.add(check);
      check();
    });
  }

  async stop(): Promise<void> {
    await this.sub.stop();
  }
}
