export * from './client.js';
export * from './sql.js';
export * from './assets.repo.js';
export * from './owners.repo.js';
export * from './maintenance.repo.js';
export * from './webhooks.repo.js';
export { Prisma } from './generated/prisma/client.js';
export type { Asset, WebhookDelivery } from './generated/prisma/client.js';
export { AssetStatus, SourceType } from './generated/prisma/enums.js';
