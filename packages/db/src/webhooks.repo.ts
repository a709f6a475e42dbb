/**
 * Webhook bookkeeping: which asset wants a callback, and every delivery attempt made
 * (one row per attempt, whatever its outcome), for support and for the dashboard.
 * Named prepared statements on plain `pg` (see sql.ts).
 */
import { randomUUID } from 'node:crypto';
import type { WebhookDelivery } from './generated/prisma/client.js';
import type { SqlPool } from './sql.js';

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
  constructor(private readonly pool: SqlPool) {}

  /** The live asset's callback URL, or null (no callback, or the asset is gone). */
  async callbackUrlFor(assetId: string): Promise<string | null> {
    const res = await this.pool.query<{ callbackUrl: string | null }>({
      name: 'webhook_callback_url',
      text: `SELECT "callbackUrl" FROM "Asset" WHERE id = $1 AND "deletedAt" IS NULL`,
      values: [assetId],
    });
    return res.rows[0]?.callbackUrl ?? null;
  }

  /**
   * One attempt, whatever its outcome. The id is a UUID v4 made here (the column has no default:
   * the schema's `@default(uuid())` was Prisma's to fill in); `createdAt` is the column's default,
   * the current time in UTC (sessions run in UTC, see sql.ts).
   */
  async recordDelivery(d: NewWebhookDelivery): Promise<WebhookDelivery> {
    const res = await this.pool.query<WebhookDelivery>({
      name: 'webhook_record_delivery',
      text: `INSERT INTO "WebhookDelivery" (id, "assetId", url, attempt, "statusCode", error, "durationMs")
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        RETURNING *`,
      values: [
        randomUUID(),
        d.assetId,
        d.url,
        d.attempt,
        d.statusCode ?? null,
        d.error?.slice(0, 1000) ?? null,
        d.durationMs === undefined ? null : Math.round(d.durationMs),
      ],
    });
    return res.rows[0]!;
  }

  /** Oldest first. */
  async deliveriesFor(assetId: string): Promise<WebhookDelivery[]> {
    const res = await this.pool.query<WebhookDelivery>({
      name: 'webhook_deliveries_for',
      text: `SELECT * FROM "WebhookDelivery" WHERE "assetId" = $1 ORDER BY "createdAt" ASC, attempt ASC`,
      values: [assetId],
    });
    return res.rows;
  }
}
