import type { AssetStatus, AssetView, ErrorCode } from '@rehost/jobs/schemas';

/** Codes the client adds to the server's (ERROR_CODES) for what happens on its side. */
export type ClientErrorCode = 'network_error' | 'wait_timeout' | 'bad_response';

/** Every error the client throws; `code` is stable, `message` is for people. */
export class RehostError extends Error {
  readonly code: ErrorCode | ClientErrorCode | (string & {});

  constructor(code: RehostError['code'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RehostError';
    this.code = code;
  }
}

/** The API answered with an error (`{ error: { code, message } }`), after any retries. */
export class RehostApiError extends RehostError {
  readonly status: number;
  /** Seconds the server asked to wait (429/503 Retry-After), when it said. */
  readonly retryAfterSeconds: number | undefined;

  constructor(status: number, code: string, message: string, retryAfterSeconds?: number) {
    super(code, message);
    this.name = 'RehostApiError';
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The asset ended `failed` (or `expired`); `code` is the asset's error code, `asset` its final view. */
export class AssetFailedError extends RehostError {
  readonly assetId: string;
  readonly asset: AssetView;

  constructor(asset: AssetView) {
    const code = asset.error?.code ?? (asset.status === 'expired' ? 'upload_expired' : 'internal');
    super(code, asset.error?.message || `asset ${asset.id} ended ${asset.status}`);
    this.name = 'AssetFailedError';
    this.assetId = asset.id;
    this.asset = asset;
  }
}

/** The asset was not terminal when the overall wait timed out (it may still finish: wait again). */
export class WaitTimeoutError extends RehostError {
  readonly assetId: string;
  readonly timeoutMs: number;
  /** The last status seen, if any answer came. */
  readonly lastStatus: AssetStatus | undefined;

  constructor(assetId: string, timeoutMs: number, lastStatus?: AssetStatus) {
    super('wait_timeout', `asset ${assetId} was not ready or failed within ${timeoutMs} ms${lastStatus ? ` (last status: ${lastStatus})` : ''}`);
    this.name = 'WaitTimeoutError';
    this.assetId = assetId;
    this.timeoutMs = timeoutMs;
    this.lastStatus = lastStatus;
  }
}

/** No HTTP answer (connection refused or reset, DNS, timeout), after any retries. */
export class NetworkError extends RehostError {
  constructor(message: string, cause?: unknown) {
    super('network_error', message, { cause });
    this.name = 'NetworkError';
  }
}
