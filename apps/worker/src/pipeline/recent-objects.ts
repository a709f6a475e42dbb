/** An object this process has just stored: where, and its exact bytes (never changed afterwards). */
export interface RecentObject {
  key: string;
  bytes: Buffer;
}

/**
 * The bytes of small objects this process has just stored, by asset id, kept for the image
 * analysis that follows the asset's `ready` in the same job (analyze.processor.ts,
 * `analyzeAfterReady`): it decodes these instead of reading the object back from the store, and
 * needs no `analyze` job of its own. Bounded in total and per object; an entry is taken once,
 * and one not taken within `ttlMs` (or pushed out by newer ones) is dropped: the analysis is then
 * queued and reads the store, as it does for an asset sharing another's object.
 */
export class RecentObjects {
  readonly #entries = new Map<string, RecentObject & { at: number }>();
  #bytes = 0;

  constructor(readonly limits: { maxBytes: number; maxObjectBytes: number; ttlMs: number }) {}

  /** Keeps `bytes` as what this process stored at `key` for `assetId`. */
  remember(assetId: string, key: string, bytes: Buffer): void {
    if (bytes.length > this.limits.maxObjectBytes || this.limits.maxBytes === 0) return;
    this.forget(assetId);
    this.#entries.set(assetId, { key, bytes, at: Date.now() });
    this.#bytes += bytes.length;
    // Oldest first (a Map iterates in insertion order).
    for (const [id, e] of this.#entries) {
      if (this.#bytes <= this.limits.maxBytes && Date.now() - e.at <= this.limits.ttlMs) break;
      this.forget(id);
    }
  }

  /** What this process stored for `assetId` recently, if anything; handed out once. */
  take(assetId: string): RecentObject | undefined {
    const e = this.#entries.get(assetId);
    if (!e) return undefined;
    this.forget(assetId);
    return Date.now() - e.at <= this.limits.ttlMs ? { key: e.key, bytes: e.bytes } : undefined;
  }

  get size(): { objects: number; bytes: number } {
    return { objects: this.#entries.size, bytes: this.#bytes };
  }

  private forget(assetId: string): void {
    const e = this.#entries.get(assetId);
    if (!e) return;
    this.#entries.delete(assetId);
    this.#bytes -= e.bytes.length;
  }
}
