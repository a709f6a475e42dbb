import { WebhooksRepo } from '@rehost/db';
import {
  AppError,
  type AssetEvent,
  assetViewOf,
  catalog,
  isAppError,
  jobIdFor,
  JobQueues,
  signWebhook,
  TERMINAL_STATUSES,
  WEBHOOK_DELIVERY_ID_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  webhookDeliveryId,
} from '@rehost/jobs';
import { redactUrl, safePostJson } from '@rehost/safe-fetch';
import { publicUrlFor } from '@rehost/storage';
import type { WorkerContext } from '../context.js';
import type { Processor } from './types.js';

/** How long one delivery may take, connect to last byte of the answer. */
const DELIVERY_TIMEOUT_MS = 15_000;

const repos = new WeakMap<WorkerContext, WebhooksRepo>();
const webhooksOf = (ctx: WorkerContext): WebhooksRepo => {
  let repo = repos.get(ctx);
  if (!repo) {
    repo = new WebhooksRepo(ctx.sql);
    repos.set(ctx, repo);
  }
  return repo;
};

const producers = new WeakMap<WorkerContext, JobQueues>();
/** Producer-side queues of this worker process (webhooks, analyses), made once per context. */
export const producerQueuesOf = (ctx: WorkerContext): JobQueues => {
  let queues = producers.get(ctx);
  if (!queues) {
    // Producer-side queues on the worker's shared connection: nothing of their own to close.
    queues = new JobQueues(ctx.redis, ctx.config.QUEUE_PREFIX);
    producers.set(ctx, queues);
  }
  return queues;
};

/**
 * Called once an asset's job is terminal, and again when its image facts arrive (`analyzed`):
 * queues its callback if it asked for one. The job id is derived from the asset id (and
 * `analyzed`), so announcing the same outcome twice sends one callback.
 */
export async function enqueueWebhook(ctx: WorkerContext, event: AssetEvent, hasCallback?: boolean): Promise<void> {
  if (!(TERMINAL_STATUSES as readonly string[]).includes(event.status) && event.status !== 'analyzed') return;
  // `hasCallback` comes from the processor's own read of the asset; unknown → read it here.
  if (!(hasCallback ?? Boolean(await webhooksOf(ctx).callbackUrlFor(event.assetId)))) return;
  await producerQueuesOf(ctx).enqueue(
    'webhook',
    { assetId: event.assetId, status: event.status as 'ready' | 'failed' | 'expired' | 'analyzed' },
    // The facts' delivery is a second one for the same asset: its own job id (and deliveryId).
    event.status === 'analyzed' ? { jobId: `${jobIdFor('webhook', event.assetId)}-analyzed` } : {},
  );
}

/**
 * POSTs the asset's final view to its callbackUrl, signed with WEBHOOK_SIGNING_SECRET, under
 * the same SSRF guard as url sources (public addresses only, plus the operator's
 * WEBHOOK_ALLOWED_HOSTS). A non-2xx answer or no answer is retried with backoff; each attempt
 * is recorded. It never fails for good through the worker, whose permanent-failure path marks
 * the asset failed and announces it: refusals and the last attempt end the job `gave_up`.
 */
export const webhook: Processor<'webhook'> = async (run, ctx) => {
  const attempt = run.attemptsMade + 1;
  const lastAttempt = attempt >= (catalog.webhook.options.attempts ?? 1);
  try {
    return await deliver(run, ctx, attempt);
  } catch (err) {
    if (!lastAttempt && !(isAppError(err) && err.permanent)) throw err;
    run.log.warn({ attempt, err: isAppError(err) ? err.message : err }, 'webhook given up');
    return { assetId: run.data.assetId, status: 'gave_up', attempts: attempt };
  }
};

async function deliver(
  { data, log, signal }: Parameters<Processor<'webhook'>>[0],
  ctx: WorkerContext,
  attempt: number,
): Promise<Awaited<ReturnType<Processor<'webhook'>>>> {
  const { assetId } = data;
  const webhooks = webhooksOf(ctx);
  const asset = await ctx.assets.get(assetId);
  if (!asset?.callbackUrl) return { assetId, status: 'skipped', attempts: attempt };
  const url = asset.callbackUrl;
  const secret = ctx.config.WEBHOOK_SIGNING_SECRET;
  if (!secret) {
    // Unsigned callbacks would teach receivers to skip verification: send none.
    await webhooks.recordDelivery({ assetId, url, attempt, error: 'WEBHOOK_SIGNING_SECRET is not configured' });
    log.warn('webhook not sent: WEBHOOK_SIGNING_SECRET is not configured');
    return { assetId, status: 'gave_up', attempts: attempt };
  }

  // The delivery id travels inside the signed body: a receiver that keeps the ids it has seen can
  // refuse a captured request replayed within the signature's window. Same id on every attempt.
  const deliveryId = webhookDeliveryId(assetId, data.status);
  const view = assetViewOf(asset, (key) => publicUrlFor(ctx.config.PUBLIC_BASE_URL, key));
  const body = JSON.stringify({ deliveryId, ...view });
  const headers = {
    [WEBHOOK_SIGNATURE_HEADER]: signWebhook(body, secret),
    [WEBHOOK_DELIVERY_ID_HEADER]: deliveryId,
    'X-Rehost-Asset-Id': assetId,
    'X-Rehost-Delivery-Attempt': String(attempt),
  };
  const started = performance.now();
  let statusCode: number | undefined;
  let error: string | undefined;
  let refused: AppError | undefined;
  try {
    ({ status: statusCode } = await safePostJson(url, body, headers, {
      allowedHosts: [],
      trustedPrivateHosts: ctx.config.WEBHOOK_ALLOWED_HOSTS,
      connectTimeoutMs: ctx.config.FETCH_CONNECT_TIMEOUT_MS,
      idleTimeoutMs: ctx.config.FETCH_IDLE_TIMEOUT_MS,
      totalTimeoutMs: DELIVERY_TIMEOUT_MS,
      signal,
    }));
    if (statusCode < 200 || statusCode > 299) error = `receiver answered HTTP ${statusCode}`;
  } catch (err) {
    // Messages from safe-fetch name the URL through redactUrl (no query, no credentials).
    error = isAppError(err) ? err.message : 'delivery failed';
    if (isAppError(err) && err.permanent) refused = err;
  }
  await webhooks.recordDelivery({ assetId, url, attempt, statusCode, error, durationMs: performance.now() - started });

  const where = redactUrl(url);
  if (!error) {
    log.info({ statusCode, attempt, url: where, deliveryId }, 'webhook delivered');
    return { assetId, status: 'delivered', attempts: attempt, ...(statusCode === undefined ? {} : { statusCode }) };
  }
  if (refused) throw refused;
  log.info({ statusCode, attempt, url: where, error }, 'webhook attempt failed');
  // Not 'rate_limited': that code would pause the whole webhook queue (worker.rateLimit).
  throw new AppError('source_unavailable', `callback ${where}: ${error}`);
}
