/** BullMQ as apps/worker has it (see README.md). */
export { type Job, Queue, QueueEvents, Worker } from '../../apps/worker/node_modules/bullmq/dist/esm/index.js';
