/**
 * The part of the job module that clients need: schemas, types and constants, with no
 * BullMQ or ioredis at run time (`@rehost/jobs/schemas`), so @rehost/client and other
 * HTTP-only consumers do not pull in Redis. Keep it that way: nothing here may import
 * queues.ts, events.ts or redis.ts.
 */
export {
  ALLOWED_IMAGE_TYPES,
  ASSET_STATUSES,
  type AssetEvent,
  type AssetStatus,
  type AssetView,
  assetEvent,
  assetPage,
  assetView,
  type ErasureView,
  erasureStarted,
  erasureView,
  type OwnerUsage,
  ownerUsage,
  errorBody,
  EXTENSION_FOR_TYPE,
  type ImageType,
  TERMINAL_STATUSES,
} from './asset.js';
export { AppError, type ErrorCode, ERROR_CODES, isAppError } from './errors.js';
export { type RehostSource, rehostSource, telegramSource, urlSource } from './rehost.job.js';
export {
  type CheckWebhookSignatureInput,
  checkWebhookSignature,
  signWebhook,
  WEBHOOK_DELIVERY_ID_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TOLERANCE_SECONDS,
  type WebhookSignatureProblem,
  webhookDeliveryId,
} from './webhook-signature.js';
