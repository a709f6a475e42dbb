import { createWorkerMetrics } from './metrics.js';

describe('worker metrics', () => {
  it('counts removed metadata by kind, never by value', async () => {
    const metrics = createWorkerMetrics({ queues: [] });
    metrics.metadataRemoved(['exif', 'gps']);
    metrics.metadataRemoved(['exif']);
    const text = await metrics.registry.getSingleMetricAsString('rehost_metadata_removed_total');
    expect(text).toContain('rehost_metadata_removed_total{kind="exif"} 2');
    expect(text).toContain('rehost_metadata_removed_total{kind="gps"} 1');
  });
});
