/**
 * BullMQ as apps/worker has it (see README.md): its CommonJS build, which is what `import 'bullmq'`
 * loads in Node.js (its ESM build uses directory imports that only bundlers and tsx resolve).
 */
import type * as BullMQ from '../../apps/worker/node_modules/bullmq/dist/esm/index.js';
import { requireFrom } from './root.js';

export const { Queue, QueueEvents, Worker } = requireFrom('apps/worker')('bullmq') as typeof BullMQ;
export type Queue = BullMQ.Queue;
export type Job = BullMQ.Job;
