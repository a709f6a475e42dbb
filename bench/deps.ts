/**
 * Third-party modules the benchmarks use directly (the bare baselines, autocannon aside).
 * bench/ is not a workspace package and has no node_modules of its own, so each module is
 * taken from the workspace package that already depends on it, at the exact version the
 * product runs. ESM builds with their types alongside are imported by path; CommonJS ones
 * are required as that package would require them, typed from their declaration files.
 */
import { createRequire } from 'node:module';
import type * as S3Types from '../packages/storage/node_modules/@aws-sdk/client-s3/dist-types/index.js';
import type * as LibStorageTypes from '../packages/storage/node_modules/@aws-sdk/lib-storage/dist-types/index.js';
import type PgTypes from '../packages/db/node_modules/@types/pg/index.js';

export { Queue, QueueEvents, Worker, type Job } from '../apps/worker/node_modules/bullmq/dist/esm/index.js';
export { default as got } from '../packages/telegram/node_modules/got/dist/source/index.js';

const fromStorage = createRequire(new URL('../packages/storage/package.json', import.meta.url));
const fromDb = createRequire(new URL('../packages/db/package.json', import.meta.url));

export const s3 = fromStorage('@aws-sdk/client-s3') as typeof S3Types;
export const { Upload } = fromStorage('@aws-sdk/lib-storage') as typeof LibStorageTypes;
export const pg = fromDb('pg') as typeof PgTypes;
