import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { isAppError } from '@rehost/jobs';
import { fetchErrors } from './fetch-errors.js';

export interface BodyLimits {
  url: URL;
  maxBytes: number;
  idleTimeoutMs: number;
  /** Runs once when the body ends or is destroyed, whatever the reason. */
  onClose: () => void;
}

/**
 * The response body as handed to the caller. Counts bytes as they arrive (Content-Length is
 * never trusted) and destroys the connection the moment the count passes `maxBytes`.
 *
 * The idle timer runs only while the caller is waiting for data: when the caller stops
 * reading (a slow upload downstream) the source is paused and the clock stops, so
 * backpressure is never mistaken for a stalled server.
 */
export class GuardedBody extends Readable {
  readonly #source: IncomingMessage;
  readonly #limits: BodyLimits;
  #bytes = 0;
  #idle: NodeJS.Timeout | undefined;
  #ended = false;

  constructor(source: IncomingMessage, limits: BodyLimits) {
    super();
    this.#source = source;
    this.#limits = limits;
    source.on('data', (chunk: Buffer) => this.#onData(chunk));
    source.pause();
    source.on('end', () => {
      this.#ended = true;
      this.#clearIdle();
      this.push(null);
    });
    source.on('error', (err) => this.destroy(isAppError(err) ? err : fetchErrors.truncated(limits.url)));
    source.on('close', () => {
      if (!this.#ended && !this.destroyed) this.destroy(fetchErrors.truncated(limits.url));
    });
  }

  /** Bytes received so far. */
  get bytesRead(): number {
    return this.#bytes;
  }

  override _read(): void {
    this.#armIdle();
    this.#source.resume();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#clearIdle();
    if (!this.#ended) this.#source.destroy();
    this.#limits.onClose();
    callback(err);
  }

  #onData(chunk: Buffer): void {
    if (this.destroyed) return;
    this.#clearIdle();
    this.#bytes += chunk.length;
    if (this.#bytes > this.#limits.maxBytes) {
      this.destroy(fetchErrors.tooLarge(this.#limits.url, this.#limits.maxBytes));
      return;
    }
    if (this.push(chunk)) this.#armIdle();
    else this.#source.pause();
  }

  #armIdle(): void {
    this.#clearIdle();
    if (this.#ended || this.destroyed) return;
    this.#idle = setTimeout(
      () => this.destroy(fetchErrors.idleTimeout(this.#limits.url, this.#limits.idleTimeoutMs)),
      this.#limits.idleTimeoutMs,
    );
  }

  #clearIdle(): void {
    if (this.#idle) clearTimeout(this.#idle);
    this.#idle = undefined;
  }
}
