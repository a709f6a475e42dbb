import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { type JobQueues, queueDepthGaugeOptions } from '@rehost/jobs';

/** API process metrics; one registry per app instance (tests build several). */
export function createApiMetrics(queues: JobQueues) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const httpRequests = new Counter({
    name: 'rehost_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: 'rehost_http_request_duration_seconds',
    help: 'HTTP request duration',
    labelNames: ['method', 'route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 30],
    registers: [registry],
  });
  const uploadSizes = new Histogram({
    name: 'rehost_upload_declared_bytes',
    help: 'Declared sizes of requested uploads',
    buckets: [10e3, 100e3, 500e3, 1e6, 5e6, 10e6, 20e6, 50e6],
    registers: [registry],
  });
  new Gauge({ ...queueDepthGaugeOptions(Object.values(queues.queues)), registers: [registry] });
  return { registry, httpRequests, httpDuration, uploadSizes };
}
export type ApiMetrics = ReturnType<typeof createApiMetrics>;
