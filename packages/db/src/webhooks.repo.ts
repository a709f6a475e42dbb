/**
 * Webhook bookkeeping: which asset wants a callback, and every delivery attempt made
 * (one row per attempt, whatever its outcome), for support and for the dashboard.
 */
import type { Db } from './client.js';
import type { WebhookDelivery } from './generated/prisma/client.js';

export type { WebhookDelivery };

export interface NewWebhookDelivery {
  assetId: string;
  url: string;
  /** 1 for the first attempt. */
  attempt: number;
  statusCode?: number | undefined;
  error?: string | undefined;
  durationMs?: number | undefined;
}

export class WebhooksRepo {
  constructor(private readonly db: Db) {}

  /** The live asset's callback URL, or null (no callback, or the asset is gone). */
  async callbackUrlFor(assetId: string): Promise<string | null> {
    const row = await this.db.asset.findFirst({ where: { id: assetId, deletedAt: null }, select: { callbackUrl: true } });
    return row?.callbackUrl ?? null;
  }

  recordDelivery(d: NewWebhookDelivery): Promise<WebhookDelivery> {
    return this.db.webhookDelivery.create({
      data: {
        assetId: d.assetId,
        url: d.url,
        attempt: d.attempt,
        statusCode: d.statusCode ?? null,
        error: d.error?.slice(0, 1000) ?? null,
        durationMs: d.durationMs === undefined ? null : Math.round(d.durationMs),
      },
    });
  }

  /** Oldest first. */
  deliveriesFor(assetId: string): Promise<WebhookDelivery[]> {
    return this.db.webhookDelivery.findMany({ where: { assetId }, orderBy: [{ createdAt: 'asc' }, { attempt: 'asc' }] });
  }
}
