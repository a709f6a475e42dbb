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
export {
  MemoryReplayStore,
  parseWebhook,
  type ReceivedWebhook,
  type ReceiveWebhookInput,
  receiveWebhook,
  type VerifyWebhookInput,
  verifyWebhook,
  WEBHOOK_DELIVERY_ID_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  type WebhookProblem,
  type WebhookReplayStore,
  WebhookSignatureError,
} from './webhook.js';
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
