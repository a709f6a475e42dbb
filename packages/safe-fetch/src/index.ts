export { isForbiddenAddress } from './address-policy.js';
export { redactUrl } from './fetch-errors.js';
export type { ResolvedAddress, Resolver } from './guarded-lookup.js';
export {
  type CheckUrlOptions,
  checkUrl,
  type SafeFetchOptions,
  type SafePostOptions,
  type SafeStream,
  safeGetStream,
  safePostJson,
} from './safe-fetch.js';
