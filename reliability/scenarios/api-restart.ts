/**
 * (7) The API restarted while clients keep enqueueing: once gracefully (SIGTERM) and once
 * crashed (SIGKILL), on the same port, while 4 clients submit with idempotency keys and retry
 * through the gap.
 */
import { freePort } from '../../test/src/processes.js';
import { addFiles } from '../lib/files.js';
import { openStage } from '../lib/stage.js';
import { submitTelegram } from '../lib/submit.js';
import { type Submission, mapLimit, tally } from '../lib/tally.js';
import type { Scenario } from './types.js';

export const apiRestart: Scenario = {
  name: 'api-restart',
  async run(run) {
    const started = Date.now();
    const n = run.smoke ? 24 : 90;
    const fault = 'API restarted twice (SIGTERM, then SIGKILL) while 4 clients enqueue with idempotency keys and retries';
    const stage = await openStage(this.name, run, { WORKER_CONCURRENCY: '4' });
    try {
      const port = await freePort();
      let api = await stage.startApi({ child: true, port });
      await stage.startWorker();
      let retries = 0;
      const client = stage.client(api.baseUrl, { onRetry: () => retries++ });
      const files = addFiles(stage.bot, 'ar', n, { size: 50_000 });
      const deadline = Date.now() + (run.smoke ? 60_000 : 120_000);

      let done = 0;
      const progress: (() => void)[] = [];
      const reached = (k: number) =>
        new Promise<void>((resolve) => {
          const check = () => done >= k && resolve();
          progress.push(check);
          check();
        });
      const submitting = mapLimit(files, 4, async (f): Promise<Submission> => {
        const s = await submitTelegram(client, f, { deadline });
        done++;
        for (const p of progress) p();
        return s;
      });
      const restarts: string[] = [];
      for (const [signal, at] of [['SIGTERM', n / 3], ['SIGKILL', (2 * n) / 3]] as const) {
        await reached(Math.floor(at));
        api.proc!.kill(signal);
        const exit = await api.proc!.exited;
        restarts.push(`${signal} → exit ${exit.signal ?? exit.code}`);
        api = await stage.startApi({ child: true, port });
      }
      const subs = await submitting;
      const result = await tally(stage, subs, {
        name: this.name,
        fault,
        started,
        deadline,
        checks: [{ name: 'the API was restarted twice', ok: restarts.length === 2, detail: restarts.join('; ') }],
        notes: { restarts },
      });
      result.summary = `${retries} client retries through the restarts`;
      return result;
    } finally {
      await stage.close();
    }
  },
};
