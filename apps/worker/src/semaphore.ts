/** Counting semaphore: the pool of a process's job slots across all its queues (pooled-worker.ts). */
export class Semaphore {
  private readonly waiting: (() => void)[] = [];
  private free: number;

  constructor(readonly size: number) {
    this.free = size;
  }

  async acquire(): Promise<() => void> {
    if (this.free > 0) {
      this.free--;
    } else {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    return this.releaser();
  }

  /** A slot now, or undefined when none is free (never waits; waiters keep their turn). */
  tryAcquire(): (() => void) | undefined {
    if (this.free === 0 || this.waiting.length > 0) return undefined;
    this.free--;
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }

  /** Callers waiting in `acquire` for a slot. */
  get waiters(): number {
    return this.waiting.length;
  }

  get inUse(): number {
    return this.size - this.free;
  }
}
