import type { Queue } from 'bullmq';

/** The `rehost_queue_depth` gauge both the API and the worker expose (prom-client Gauge options). */
export function queueDepthGaugeOptions(queues: Queue[]) {
  return {
    name: 'rehost_queue_depth',
    help: 'Jobs by queue and state',
    labelNames: ['queue', 'state'] as const,
    async collect(this: { set: (labels: { queue: string; state: string }, value: number) => void }) {
      for (const q of queues) {
        const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed');
        for (const [state, n] of Object.entries(counts)) this.set({ queue: q.name, state }, n);
      }
    },
  };
}
