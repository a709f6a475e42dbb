// No value import of ./generated/prisma/client.js (or @prisma/*) here: the apps load this index,
// and the Prisma runtime costs memory they do not need (test/index-loads-no-prisma.test.ts).
// Prisma keeps the schema, the migrations (pg-shims.ts, for its CLI) and the row types.
export * from './sql.js';
export * from './analysis.repo.js';
export * from './assets.repo.js';
export * from './owners.repo.js';
export * from './maintenance.repo.js';
export * from './webhooks.repo.js';
export type { Asset, WebhookDelivery } from './generated/prisma/client.js';
export { AssetStatus, SourceType } from './generated/prisma/enums.js';
