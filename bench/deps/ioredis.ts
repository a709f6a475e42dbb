/**
 * ioredis as apps/worker has it (see README.md). BullMQ 6 under ESM cannot load it by itself:
 * it is given constructed clients.
 */
import { createRequire } from 'node:module';
import type * as IORedisTypes from '../../apps/worker/node_modules/ioredis/built/index.js';

export const { Redis } = createRequire(new URL('../../apps/worker/package.json', import.meta.url))('ioredis') as typeof IORedisTypes;
