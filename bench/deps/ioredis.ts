/**
 * ioredis as apps/worker has it (see README.md). BullMQ 6 under ESM cannot load it by itself:
 * it is given constructed clients.
 */
import type * as IORedisTypes from '../../apps/worker/node_modules/ioredis/built/index.js';
import { requireFrom } from './root.js';

export const { Redis } = requireFrom('apps/worker')('ioredis') as typeof IORedisTypes;
