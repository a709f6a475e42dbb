/**
 * Spaces calls `1 / ratePerSecond` apart (no bursts: a backfill should look like steady
 * traffic to the API's back-pressure). `wait()` resolves at the caller's next slot, or
 * early with false when `signal` aborts.
 */
export class Pacer {
  private next = 0;
  private readonly intervalMs: number;

  constructor(ratePerSecond: number) {
    this.intervalMs = 1000 / ratePerSecond;
  }

  wait(signal?: AbortSignal): Promise<boolean> {
    const now = performance.now();
    const at = Math.max(now, this.next);
    this.next = at + this.intervalMs;
    const delay = at - now;
    if (delay <= 0) return Promise.resolve(!signal?.aborted);
    return new Promise((resolve) => {
      const onAbort = () => {
        clearTimeout(timer);
        resolve(false);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve(true);
      }, delay);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
