import { resolvePublicBaseUrl, apiEnv, databaseEnv, limitsEnv, redisEnv, runtimeEnv, s3Env, telegramEnv, webhookEnv } from '@rehost/config';
import { z } from 'zod';

export const apiConfigSchema = runtimeEnv
  .extend(databaseEnv.shape)
  .extend(redisEnv.shape)
  .extend(s3Env.shape)
  .extend(limitsEnv.shape)
  .extend(apiEnv.shape)
  .extend(telegramEnv.shape)
  .extend(webhookEnv.shape)
  .superRefine((c, ctx) => {
    if (c.NODE_ENV === 'production' && c.API_TOKENS.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['API_TOKENS'], message: 'is required in production (comma-separated bearer tokens)' });
    }
    if (c.NODE_ENV === 'production' && !c.PUBLIC_BASE_URL) {
      ctx.addIssue({ code: 'custom', path: ['PUBLIC_BASE_URL'], message: 'is required in production (the CDN origin of the bucket)' });
    }
  })
  .transform((c) => ({
    ...c,
    PUBLIC_BASE_URL: resolvePublicBaseUrl(c),
    DEMO_PAGE: c.DEMO_PAGE ?? c.NODE_ENV !== 'production',
  }));

export type ApiConfig = z.infer<typeof apiConfigSchema>;
