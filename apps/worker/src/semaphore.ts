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
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }

  get inUse(): number {
    return this.size - this.free;
  }
}
