/**
 * The whole service in one test process: the real API (Fastify, listening on a port),
 * the real workers, against this suite's own PostgreSQL schema, Redis prefix and bucket.
 */
import type { AddressInfo } from 'node:net';
import { buildApp } from '@rehost/api/app';
import { apiConfigSchema } from '@rehost/api/config';
import { type ApiContext, createApiContext } from '@rehost/api/context';
import { parseEnv } from '@rehost/config';
import { createLogger, type Logger } from '@rehost/logger';
import { createTestServices, type TestServices } from '@rehost/testing';
import { workerConfigSchema } from '@rehost/worker/config';
import { createWorkerContext, type WorkerContext } from '@rehost/worker/context';
import { processors } from '@rehost/worker/processors';
import { startWorkers } from '@rehost/worker/worker';
import type { FastifyInstance } from 'fastify';
import { ResponseValidator } from './openapi-check.js';

export interface Stack {
  services: TestServices;
  api: FastifyInstance;
  apiCtx: ApiContext;
  baseUrl: string;
  token: string;
  /** Checks every response against the served OpenAPI document; close() throws on violations. */
  responses?: ResponseValidator;
  workerCtx?: WorkerContext;
  workers?: ReturnType<typeof startWorkers>;
  /** fetch against the API with the bearer token set. */
  call: (path: string, init?: RequestInit & { json?: unknown }) => Promise<{ status: number; body: any; headers: Headers }>;
  startWorker: () => void;
  stopWorker: () => Promise<void>;
  close: () => Promise<void>;
}

export interface StackOptions {
  env?: Record<string, string>;
  /** Start the workers too (default true). */
  worker?: boolean;
  logger?: Logger;
  /**
   * Validate every response against the OpenAPI document the API serves (default true): an
   * undocumented status or a body off its documented schema makes close() throw.
   */
  validateResponses?: boolean;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const services = await createTestServices(opts.env);
  const env = { ...process.env, ...services.env };
  const log = opts.logger ?? createLogger({ name: 'test', level: services.env.LOG_LEVEL });
  const apiCtx = await createApiContext(parseEnv(apiConfigSchema, env), log.child({ app: 'api' }));
  const api = await buildApp(apiCtx);
  const responses = opts.validateResponses === false ? undefined : new ResponseValidator(api).attach();
  await api.listen({ port: 0, host: '127.0.0.1' });
  const baseUrl = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
  const token = services.env.API_TOKENS!.split(',')[0]!;

  const stack: Stack = {
    services,
    api,
    apiCtx,
    responses,
    baseUrl,
    token,
    call: async (path, init = {}) => {
      const headers = new Headers(init.headers);
      if (!headers.has('authorization')) headers.set('authorization', `Bearer ${token}`);
      let body = init.body;
      if (init.json !== undefined) {
        headers.set('content-type', 'application/json');
        body = JSON.stringify(init.json);
      }
      const res = await fetch(`${baseUrl}${path}`, { ...init, headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        /* not JSON */
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    startWorker: () => {
      stack.workerCtx = createWorkerContext(parseEnv(workerConfigSchema, env), log.child({ app: 'worker' }));
      stack.workers = startWorkers(stack.workerCtx, processors);
    },
    stopWorker: async () => {
      await stack.workers?.close(5000);
      await stack.workerCtx?.close();
      stack.workers = undefined;
      stack.workerCtx = undefined;
    },
    close: async () => {
      await stack.stopWorker();
      await api.close();
      await apiCtx.close();
      await services.cleanup();
      responses?.assertClean();
    },
  };
  if (opts.worker !== false) stack.startWorker();
  return stack;
}
