import {
  analysisEnv,
  databaseEnv,
  limitsEnv,
  maintenanceEnv,
  redisEnv,
  resolvePublicBaseUrl,
  runtimeEnv,
  s3Env,
  telegramEnv,
  webhookEnv,
  workerEnv,
} from '@rehost/config';
import { z } from 'zod';

export const workerConfigSchema = runtimeEnv
  .extend(databaseEnv.shape)
  .extend(redisEnv.shape)
  .extend(s3Env.shape)
  .extend(limitsEnv.shape)
  .extend(analysisEnv.shape)
  .extend(telegramEnv.shape)
  .extend(workerEnv.shape)
  .extend(webhookEnv.shape)
  .extend(maintenanceEnv.shape)
  .transform((c) => ({ ...c, PUBLIC_BASE_URL: resolvePublicBaseUrl(c) }));

export type WorkerConfig = z.infer<typeof workerConfigSchema>;
