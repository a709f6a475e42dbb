/**
 * The response validator every stack carries (openapi-check.ts) can fail: an undocumented status
 * or a body off its documented schema is a violation, and assertClean() throws naming it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { buildApp } from '@rehost/api/app';
import type { FastifyInstance } from 'fastify';
import { openApiPath, ResponseValidator } from './openapi-check.js';
import { type Stack, startStack } from './stack.js';

let stack: Stack;
let app: FastifyInstance;
let validator: ResponseValidator;

beforeAll(async () => {
  stack = await startStack({ worker: false });
  app = await buildApp(stack.apiCtx);
  validator = new ResponseValidator(app).attach();
  // A route the document lists with its default 200 only, answering a status it does not list.
  app.get('/teapot', async (_req, reply) => reply.status(418).send({ brewing: false }));
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  await stack?.close();
});

describe('the OpenAPI response validator', () => {
  it('spells Fastify paths as the document does', () => {
    expect(openApiPath('/v1/uploads/:assetId/complete')).toBe('/v1/uploads/{assetId}/complete');
  });

  it('passes documented responses', async () => {
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    const res = await app.inject({ url: '/v1/assets/00000000-0000-4000-8000-000000000000', headers: { authorization: `Bearer ${stack.token}` } });
    expect(res.statusCode).toBe(404);
    expect(validator.checked).toBe(2);
    expect(validator.violations).toEqual([]);
    expect(() => validator.assertClean()).not.toThrow();
  });

  it('fails on a status the route does not document', async () => {
    const res = await app.inject({ url: '/teapot' });
    expect(res.statusCode).toBe(418);
    expect(validator.violations).toEqual([{ method: 'GET', route: '/teapot', status: 418, problem: expect.stringMatching(/^status 418 is not documented/) }]);
    expect(() => validator.assertClean()).toThrow(/GET \/teapot 418: status 418 is not documented/);
  });

  it('fails on a body that does not match the documented schema', () => {
    validator.violations.length = 0;
    validator.check('GET', '/v1/assets/:assetId', 404, 'application/json; charset=utf-8', JSON.stringify({ error: { message: 'no code' } }));
    expect(validator.violations).toEqual([
      { method: 'GET', route: '/v1/assets/{assetId}', status: 404, problem: expect.stringMatching(/does not match the documented schema.*code/) },
    ]);
    validator.violations.length = 0;
  });

  it('the ops routes and the owner routes answer as documented (through the stack\'s own validator)', async () => {
    expect((await stack.call('/healthz')).status).toBe(200);
    expect((await stack.call('/readyz')).status).toBe(200);
    const metrics = await fetch(`${stack.baseUrl}/metrics`);
    expect(metrics.status).toBe(200);
    await metrics.text();
    // No such owner: usage is all zero (not a 404), and an erasure still starts.
    expect(await stack.call('/v1/owners/openapi-nobody/usage')).toMatchObject({ status: 200, body: { ownerId: 'openapi-nobody', assets: 0, bytes: 0, pending: 0 } });
    // A DELETE may carry a body: a non-JSON one is a 415.
    const typed = await stack.call('/v1/owners/openapi-nobody/assets', { method: 'DELETE', body: 'x', headers: { 'content-type': 'text/plain' } });
    expect(typed.status).toBe(415);
    expect((await stack.call('/v1/owners/openapi-nobody/assets', { method: 'DELETE' })).status).toBe(202);
    expect((await stack.call('/v1/owners/openapi-nobody/usage', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect(stack.responses!.checked).toBe(7);
    expect(stack.responses!.violations).toEqual([]);
  });

  it('every /v1 operation lists 400, 401 and 503, and 413/415 when it takes a body; the ops routes are documented without security', async () => {
    const { status, body: doc } = await stack.call('/docs/json');
    expect(status).toBe(200);
    const missing: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>)) {
      if (!path.startsWith('/v1/')) continue;
      for (const [method, op] of Object.entries(ops)) {
        const need = ['400', '401', '503', ...(['post', 'put', 'patch', 'delete'].includes(method) ? ['413', '415'] : [])];
        for (const s of need) if (!op.responses[s]) missing.push(`${method.toUpperCase()} ${path} ${s}`);
      }
    }
    expect(missing).toEqual([]);
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      expect(doc.paths[path]?.get).toMatchObject({ security: [], responses: { 200: expect.anything(), 503: expect.anything() } });
    }
    expect(Object.keys(doc.paths['/metrics'].get.responses['200'].content)).toEqual(['text/plain']);
  });

  it('fails on a route the document does not list', () => {
    validator.check('GET', '/v1/nowhere', 200, 'application/json', '{}');
    expect(validator.violations).toEqual([{ method: 'GET', route: '/v1/nowhere', status: 200, problem: 'the route is not in the document' }]);
    validator.violations.length = 0;
  });
});
