import type { Redis } from 'ioredis';
import { assetEvent, type AssetEvent } from './asset.js';

/**
 * Completion events live in one Redis stream (`<prefix>:asset-events`, same hash
 * tag as the queues). A stream, unlike pub/sub, keeps history: a subscriber that
 * restarts resumes from the last id it saw and misses nothing.
 */
export const eventStreamKey = (prefix: string): string => `${prefix}:asset-events`;

/** Roughly how many events the stream keeps (XADD MAXLEN ~). */
const STREAM_MAX_LEN = 1_000_000;

export async function publishAssetEvent(redis: Redis, prefix: string, event: AssetEvent): Promise<string> {
  const id = await redis.xadd(eventStreamKey(prefix), 'MAXLEN', '~', STREAM_MAX_LEN, '*', 'event', JSON.stringify(event));
  return id!;
}

function parseEntry(fields: string[]): ReturnType<typeof assetEvent.safeParse> {
  const at = fields.indexOf('event');
  let value: unknown;
  try {
    value = at >= 0 ? JSON.parse(fields[at + 1] ?? 'null') : null;
  } catch {
    value = null;
  }
  return assetEvent.safeParse(value);
}

export interface StreamedEvent {
  /** Stream position; pass it back as `from` to resume after it. */
  id: string;
  event: AssetEvent;
}

export interface SubscribeOptions {
  /** Resume after this stream id; `'$'` (default) means only new events, `'0'` means from the start. */
  from?: string;
  /** How long one XREAD blocks; bounds how fast `stop()` returns. @defaultValue 1000 */
  blockMs?: number;
  /** Called when `onEvent` throws; the subscription goes on with the next event. */
  onError?: (err: unknown, id: string) => void;
}

/**
 * Reads the event stream on its own connection (`redis` is duplicated: XREAD BLOCK
 * holds the connection) and calls `onEvent` in order. Returns a stop function.
 */
export function subscribeAssetEvents(
  redis: Redis,
  prefix: string,
  onEvent: (e: StreamedEvent) => void | Promise<void>,
  opts: SubscribeOptions = {},
): { stop: () => Promise<void>; ready: Promise<void> } {
  const conn = redis.duplicate();
  const key = eventStreamKey(prefix);
  let last = opts.from ?? '$';
  let running = true;
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));

  const loop = (async () => {
    // Pin '$' to a concrete id first, so events published between subscribe() and the
    // first XREAD are not skipped.
    if (last === '$') {
      const tail = (await conn.xrevrange(key, '+', '-', 'COUNT', 1)) as [string, string[]][];
      last = tail[0]?.[0] ?? '0-0';
    }
    markReady();
    while (running) {
      let res: [string, [string, string[]][]][] | null;
      try {
        res = (await conn.xread('COUNT', 500, 'BLOCK', opts.blockMs ?? 1000, 'STREAMS', key, last)) as typeof res;
      } catch (err) {
        if (!running) break;
        await new Promise((r) => setTimeout(r, 200));
        void err;
        continue;
      }
      for (const [, entries] of res ?? []) {
        for (const [id, fields] of entries) {
          last = id;
          const parsed = parseEntry(fields);
          if (!parsed.success) {
            // One malformed entry (written by hand, by another version) must not stop the reader.
            opts.onError?.(new Error(`malformed event entry ${id}`), id);
            continue;
          }
          try {
            await onEvent({ id, event: parsed.data });
          } catch (err) {
            // A throwing handler must not end the subscription silently; the caller decides what it means.
            opts.onError?.(err, id);
          }
        }
      }
    }
  })();

  return {
    ready,
    stop: async () => {
      running = false;
      conn.disconnect();
      await loop.catch(() => undefined);
    },
  };
}

/**
 * One stream reader per process fanning events out to waiters by asset id — so a
 * thousand long-polls cost one Redis connection, not a thousand.
 */
export class AssetEventHub {
  private readonly waiters = new Map<string, Set<(e: AssetEvent) => void>>();
  private sub: ReturnType<typeof subscribeAssetEvents> | undefined;

  constructor(private readonly redis: Redis, private readonly prefix: string) {}

  async start(): Promise<void> {
    this.sub = subscribeAssetEvents(this.redis, this.prefix, ({ event }) => {
      for (const resolve of this.waiters.get(event.assetId) ?? []) resolve(event);
    });
    await this.sub.ready;
  }

  /**
   * Registers interest before the caller checks current state, so no event can slip
   * between "read state" and "start waiting". Resolves with the event, or undefined at timeout.
   */
  waitFor(assetId: string, timeoutMs: number, signal?: AbortSignal): { promise: Promise<AssetEvent | undefined>; cancel: () => void } {
    let done!: (e: AssetEvent | undefined) => void;
    const promise = new Promise<AssetEvent | undefined>((r) => (done = r));
    const set = this.waiters.get(assetId) ?? new Set();
    this.waiters.set(assetId, set);
    const cleanup = () => {
      clearTimeout(timer);
      set.delete(handler);
      if (set.size === 0) this.waiters.delete(assetId);
      signal?.removeEventListener('abort', onAbort);
    };
    const handler = (e: AssetEvent) => {
      cleanup();
      done(e);
    };
    const onAbort = () => {
      cleanup();
      done(undefined);
    };
    const timer = setTimeout(onAbort, timeoutMs);
    signal?.addEventListener('abort', onAbort);
    set.add(handler);
    return { promise, cancel: onAbort };
  }

  get waiting(): number {
    let n = 0;
    for (const s of this.waiters.values()) n += s.size;
    return n;
  }

  async stop(): Promise<void> {
    await this.sub?.stop();
  }
}
