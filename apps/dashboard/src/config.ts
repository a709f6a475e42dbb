import { dashboardEnv, redisEnv, runtimeEnv } from '@rehost/config';
import { z } from 'zod';

export const dashboardConfigSchema = runtimeEnv
  .extend(redisEnv.shape)
  .extend(dashboardEnv.shape)
  .extend({
    /** Explicit opt-in to run without basic auth (local development only). */
    DASHBOARD_NO_AUTH: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  })
  .superRefine((c, ctx) => {
    if ((!c.DASHBOARD_USER || !c.DASHBOARD_PASSWORD) && !(c.DASHBOARD_NO_AUTH && c.NODE_ENV !== 'production')) {
      ctx.addIssue({
        code: 'custom',
        path: [c.DASHBOARD_USER ? 'DASHBOARD_PASSWORD' : 'DASHBOARD_USER'],
        message: 'is required (or set DASHBOARD_NO_AUTH=true outside production)',
      });
    }
  });

export type DashboardConfig = z.infer<typeof dashboardConfigSchema>;
