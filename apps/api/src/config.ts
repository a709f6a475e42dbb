import { resolvePublicBaseUrl, analysisEnv, apiEnv, databaseEnv, limitsEnv, redisEnv, runtimeEnv, s3Env, telegramEnv, webhookEnv } from '@rehost/config';
import { z } from 'zod';

export const apiConfigSchema = runtimeEnv
  .extend(databaseEnv.shape)
  .extend(redisEnv.shape)
  .extend(s3Env.shape)
  .extend(limitsEnv.shape)
  .extend(analysisEnv.shape)
  .extend(apiEnv.shape)
  .extend(telegramEnv.shape)
  .extend(webhookEnv.shape)
  .superRefine((c, ctx) => {
    // Fail closed: an unset API_TOKENS never means an open /v1.
    if (c.API_TOKENS.length === 0 && !c.API_ALLOW_ANONYMOUS) {
      ctx.addIssue({
        code: 'custom',
        path: ['API_TOKENS'],
        message: 'is required (comma-separated bearer tokens); set API_ALLOW_ANONYMOUS=true to run /v1 without tokens',
      });
    }
    if (c.API_HEADERS_TIMEOUT_MS > c.API_REQUEST_TIMEOUT_MS) {
      ctx.addIssue({ code: 'custom', path: ['API_HEADERS_TIMEOUT_MS'], message: 'must not exceed API_REQUEST_TIMEOUT_MS' });
    }
    if (c.NODE_ENV === 'production' && !c.PUBLIC_BASE_URL) {
      ctx.addIssue({ code: 'custom', path: ['PUBLIC_BASE_URL'], message: 'is required in production (the CDN origin of the bucket)' });
    }
  })
  .transform((c) => ({
    ...c,
    PUBLIC_BASE_URL: resolvePublicBaseUrl(c),
  }));

export type ApiConfig = z.infer<typeof apiConfigSchema>;
