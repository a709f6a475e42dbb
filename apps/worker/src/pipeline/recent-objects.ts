/**
 * The bytes of small objects this process has just stored, kept for the `analyze` job that
 * follows each ready asset: when that job runs in the same process (always with one worker
 * process, often with a few), it decodes these instead of reading the object back from the store —
 * a GET less per image, for the store and for us. Bounded in total and per object; an entry is
 * taken once, and one not taken within `ttlMs` (or pushed out by newer ones) is dropped: the
 * analysis then reads the store, as it does in any other process.
 */
export class RecentObjects {
  readonly #entries = new Map<string, { bytes: Buffer; at: number }>();
  #bytes = 0;

  constructor(readonly limits: { maxBytes: number; maxObjectBytes: number; ttlMs: number }) {}

  /** Keeps `bytes` as the content of `key` (the exact bytes stored there; never changed afterwards). */
  remember(key: string, bytes: Buffer): void {
    if (bytes.length > this.limits.maxObjectBytes || this.limits.maxBytes === 0) return;
    this.forget(key);
    this.#entries.set(key, { bytes, at: Date.now() });
    this.#bytes += bytes.length;
    // Oldest first (a Map iterates in insertion order).
    for (const [k, e] of this.#entries) {
      if (this.#bytes <= this.limits.maxBytes && Date.now() - e.at <= this.limits.ttlMs) break;
      this.forget(k);
    }
  }

  /** The bytes of `key` if this process stored them recently; they are handed out once. */
  take(key: string): Buffer | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    this.forget(key);
    return Date.now() - e.at <= this.limits.ttlMs ? e.bytes : undefined;
  }

  get size(): { objects: number; bytes: number } {
    return { objects: this.#entries.size, bytes: this.#bytes };
  }

  private forget(key: string): void {
    const e = this.#entries.get(key);
    if (!e) return;
    this.#entries.delete(key);
    this.#bytes -= e.bytes.length;
  }
}
