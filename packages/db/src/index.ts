export * from './client.js';
export * from './assets.repo.js';
export { Prisma } from './generated/prisma/client.js';
export type { Asset } from './generated/prisma/client.js';
export { AssetStatus, SourceType } from './generated/prisma/enums.js';
