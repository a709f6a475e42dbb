export {
  type CreatedUpload,
  type CreateUploadInput,
  type EnqueueOptions,
  RehostClient,
  type RehostAccepted,
  type RehostClientOptions,
  type RetryInfo,
  type TelegramRehostOptions,
  type WaitOptions,
} from './client.js';
export { AssetFailedError, type ClientErrorCode, NetworkError, RehostApiError, RehostError, WaitTimeoutError } from './errors.js';
export { parseWebhook, type VerifyWebhookInput, verifyWebhook, WEBHOOK_SIGNATURE_HEADER, WebhookSignatureError } from './webhook.js';
export {
  ASSET_STATUSES,
  type AssetEvent,
  type AssetStatus,
  type AssetView,
  assetEvent,
  assetView,
  ERROR_CODES,
  type ErrorCode,
  TERMINAL_STATUSES,
} from '@rehost/jobs/schemas';
