/**
 * The back-pressure figure for MAX_QUEUE_DEPTH: the waiting-job count read from Redis at most
 * every `sampleMs` (a Redis round trip per request is not worth it), plus what this process
 * admitted that the read may not show yet. Without the second part every request of a sample
 * window passes on the same stale figure, and a burst overshoots the limit several times over.
 *
 * A request is admitted before its asset row is written and its job enqueued, so a read may miss
 * jobs admitted up to one window before it: those stay counted for one more read (erring towards
 * refusing slightly early during a burst). Several API processes can still each admit their own
 * window's worth past the limit.
 */
export class QueueDepthGate {
  private sampled = 0;
  private sampledAt = 0;
  /** Admitted since the last read began. */
  private current = 0;
  /** Admitted in the window before that: possibly not enqueued when the last read ran. */
  private previous = 0;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly read: () => Promise<number>,
    private readonly limit: number,
    private readonly sampleMs = 250,
  ) {}

  /** True if one more job may be queued (and counts it); false when at the limit. */
  async admit(): Promise<boolean> {
    if (Date.now() - this.sampledAt > this.sampleMs) {
      // One read at a time, shared by every request that finds the figure stale.
      this.refreshing ??= this.refresh().finally(() => {
        this.refreshing = undefined;
      });
      await this.refreshing;
    }
    if (this.sampled + this.previous + this.current >= this.limit) return false;
    this.current++;
    return true;
  }

  /** Gives back an admission that enqueued nothing after all (the request was answered otherwise). */
  release(): void {
    if (this.current > 0) this.current--;
    else if (this.previous > 0) this.previous--;
  }

  private async refresh(): Promise<void> {
    this.previous = this.current;
    this.current = 0;
    this.sampled = await this.read();
    this.sampledAt = Date.now();
  }
}
