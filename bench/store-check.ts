/**
 * The bench never waits forever on the S3 store. Before any scenario, a pre-flight creates a
 * bucket and PUTs, GETs and DELETEs a small object, each with a deadline; during the run, a
 * watchdog repeats the PUT/GET/DELETE every 10 s. A store that is down, full (a full Ceph OSD
 * blocks every write instead of refusing it) or not answering ends the run with a message that
 * names it, within a minute. Every other S3 call the bench makes is bounded by `boundS3Client`.
 */
import { randomBytes } from 'node:crypto';
import { s3 } from './deps/s3.js';

type S3Client = InstanceType<typeof s3.S3Client>;

/** A call that takes longer than this fails the check. */
const CALL_DEADLINE_MS = 15_000;
const WATCH_EVERY_MS = 10_000;

export interface StoreTarget {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** Where the bench's services put their buckets: the same defaults as packages/testing. */
export function storeTarget(env: NodeJS.ProcessEnv = process.env): StoreTarget {
  return {
    endpoint: env.TEST_S3_ENDPOINT ?? env.S3_ENDPOINT ?? 'http://127.0.0.1:7480',
    region: env.S3_REGION ?? 'auto',
    accessKeyId: env.TEST_S3_ACCESS_KEY_ID ?? env.S3_ACCESS_KEY_ID ?? 'rehostdevaccesskey00',
    secretAccessKey: env.TEST_S3_SECRET_ACCESS_KEY ?? env.S3_SECRET_ACCESS_KEY ?? 'rehostdevsecretkey0000000000000000000000',
  };
}

/**
 * Bounds every request of an SDK client: 5 s to connect, 15 s without a byte on the socket, one
 * retry. Used on the clients the bench itself makes calls with (the services' bucket, the
 * baselines); the apps keep their own settings.
 */
export function boundS3Client(client: S3Client): S3Client {
  const handler = client.config.requestHandler as { updateHttpClientConfig?: (key: string, value: number) => void };
  handler.updateHttpClientConfig?.('connectionTimeout', 5_000);
  handler.updateHttpClientConfig?.('requestTimeout', CALL_DEADLINE_MS);
  return client;
}

export class StoreUnavailableError extends Error {}

/** One PUT, GET and DELETE of a small object in `bucket`, each within the deadline. */
async function probe(client: S3Client, target: StoreTarget, bucket: string): Promise<void> {
  const key = `bench-probe/${randomBytes(6).toString('hex')}`;
  const body = randomBytes(1024);
  const step = async <T>(what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    const signal = AbortSignal.timeout(CALL_DEADLINE_MS);
    try {
      return await fn(signal);
    } catch (err) {
      const why = signal.aborted
        ? `no answer within ${CALL_DEADLINE_MS / 1000} s (a full store blocks writes; scripts/s3-server.sh status shows its usage: free some room, or restart it: scripts/s3-server.sh stop && scripts/s3-server.sh start)`
        : err instanceof Error
          ? `${err.name}: ${err.message}`
          : String(err);
      throw new StoreUnavailableError(`S3 store at ${target.endpoint}: ${what} failed: ${why}`);
    }
  };
  await step(`PUT ${bucket}/${key}`, (abortSignal) =>
    client.send(new s3.PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/octet-stream' }), { abortSignal }),
  );
  await step(`GET ${bucket}/${key}`, async (abortSignal) => {
    const out = await client.send(new s3.GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal });
    const got = await out.Body!.transformToByteArray();
    if (!body.equals(Buffer.from(got))) throw new Error('read back other bytes than were written');
  });
  await step(`DELETE ${bucket}/${key}`, (abortSignal) => client.send(new s3.DeleteObjectCommand({ Bucket: bucket, Key: key }), { abortSignal }));
}

/**
 * Pre-flight (throws StoreUnavailableError naming the store), then a watchdog that calls
 * `onFailure` once if a later probe fails. `stop()` ends the watchdog and deletes its bucket.
 */
export async function checkStore(target: StoreTarget, onFailure: (err: Error) => void): Promise<{ stop: () => Promise<void> }> {
  const client = new s3.S3Client({
    endpoint: target.endpoint,
    region: target.region,
    forcePathStyle: true,
    credentials: { accessKeyId: target.accessKeyId, secretAccessKey: target.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
  });
  boundS3Client(client);
  const bucket = `bench-probe-${randomBytes(4).toString('hex')}`;
  try {
    const signal = AbortSignal.timeout(CALL_DEADLINE_MS);
    await client.send(new s3.CreateBucketCommand({ Bucket: bucket }), { abortSignal: signal }).catch((err: unknown) => {
      const why = signal.aborted ? `no answer within ${CALL_DEADLINE_MS / 1000} s` : err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      throw new StoreUnavailableError(
        `S3 store at ${target.endpoint}: CreateBucket failed: ${why} (is it running? scripts/s3-server.sh status; set S3_ENDPOINT/TEST_S3_ENDPOINT for another store)`,
      );
    });
    await probe(client, target, bucket);
  } catch (err) {
    await client.send(new s3.DeleteBucketCommand({ Bucket: bucket }), { abortSignal: AbortSignal.timeout(5_000) }).catch(() => undefined);
    client.destroy();
    throw err;
  }

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const schedule = () => {
    timer = setTimeout(() => {
      running = probe(client, target, bucket).then(
        () => {
          if (!stopped) schedule();
        },
        (err: Error) => {
          if (!stopped) onFailure(err);
        },
      );
    }, WATCH_EVERY_MS);
    timer.unref();
  };
  schedule();
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running.catch(() => undefined);
      await client.send(new s3.DeleteBucketCommand({ Bucket: bucket }), { abortSignal: AbortSignal.timeout(5_000) }).catch(() => undefined);
      client.destroy();
    },
  };
}
