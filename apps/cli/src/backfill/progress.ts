/**
 * Progress on stderr: a redrawn bar with rate and ETA on a terminal, a plain line every
 * `everyMs` otherwise (logs, CI), so stdout stays free for pipes.
 */
export interface ProgressCounts {
  /** Input lines handled (enqueued, refused or skipped as invalid), resumed ones included. */
  handled: number;
  /** Input lines in total, when known (a file; not standard input). */
  total: number | undefined;
  /** Results written to the report. */
  reported: number;
  /** Assets enqueued whose result is still awaited. */
  waiting: number;
  failed: number;
}

const BAR = 24;

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export class Progress {
  private readonly startedAt = performance.now();
  private readonly startHandled: number;
  private timer: NodeJS.Timeout | undefined;
  private lastWidth = 0;

  constructor(
    private readonly read: () => ProgressCounts,
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly everyMs = 10_000,
  ) {
    this.startHandled = read().handled;
  }

  get isTty(): boolean {
    return Boolean(this.out.isTTY);
  }

  start(): void {
    this.timer = setInterval(() => this.render(), this.isTty ? 200 : this.everyMs);
    this.timer.unref();
  }

  line(): string {
    const c = this.read();
    const elapsed = (performance.now() - this.startedAt) / 1000;
    const rate = elapsed > 0 ? (c.handled - this.startHandled) / elapsed : 0;
    const parts: string[] = [];
    if (c.total !== undefined && c.total > 0) {
      const frac = Math.min(1, c.handled / c.total);
      const bar = this.isTty ? `[${'#'.repeat(Math.round(frac * BAR)).padEnd(BAR, '-')}] ` : '';
      parts.push(`${bar}${(frac * 100).toFixed(1)}% ${c.handled}/${c.total} enqueued`);
      parts.push(`ETA ${rate > 0 ? formatDuration((c.total - c.handled) / rate) : '?'}`);
    } else {
      parts.push(`${c.handled} enqueued`);
    }
    parts.push(`${rate.toFixed(1)}/s`);
    parts.push(`${c.reported} done${c.failed ? ` (${c.failed} failed)` : ''}, ${c.waiting} waiting`);
    return `backfill: ${parts.join(' · ')}`;
  }

  render(): void {
    const text = this.line();
    if (this.isTty) {
      this.out.write(`\r${text.padEnd(this.lastWidth)}`);
      this.lastWidth = text.length;
    } else {
      this.out.write(`${text}\n`);
    }
  }

  /** Final line; on a terminal it ends the redrawn one. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.render();
    if (this.isTty) this.out.write('\n');
  }

  /** A message between progress redraws. */
  say(message: string): void {
    if (this.isTty && this.lastWidth > 0) this.out.write(`\r${' '.repeat(this.lastWidth)}\r`);
    this.out.write(`${message}\n`);
    this.lastWidth = 0;
  }
}
