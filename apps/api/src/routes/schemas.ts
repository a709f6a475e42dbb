import { assetView, errorBody } from '@rehost/jobs';
import { z } from 'zod';

export const errorResponse = z.object({ error: errorBody });
export const assetIdParams = z.object({ assetId: z.string().max(64) });
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export { assetView };
