/**
 * The /demo upload page (DEMO_PAGE): a person-facing check of the whole web-upload path.
 * Its three tiny same-origin endpoints play "our web backend": they ask for the upload
 * server side, so the browser only ever sees the pre-signed URL, never a service token.
 * Every demo asset belongs to the owner `demo`; these endpoints see no other asset.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ApiContext } from '../context.js';
import { closeSignal, waitForAsset, waitQuery } from './assets.js';
import { assetIdParams } from './schemas.js';
import { completeUpload, createUpload, createUploadBody } from './uploads.js';

const DEMO_OWNER = 'demo';
const demoUploadBody = createUploadBody.pick({ contentType: true, size: true, filename: true });

/** CSP allowing only the page's own inline script and style (by hash), so a hostile filename can never run code. */
function contentSecurityPolicy(html: string, imageOrigin: string): string {
  const hash = (tag: string) => {
    const body = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(html)?.[1] ?? '';
    return `'sha256-${createHash('sha256').update(body).digest('base64')}'`;
  };
  // connect-src stays open to http(s): the pre-signed URL's host depends on the store's addressing style.
  return `default-src 'none'; script-src ${hash('script')}; style-src ${hash('style')}; img-src ${imageOrigin}; connect-src 'self' http: https:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
}

export const demoRoutes =
  (ctx: ApiContext): FastifyPluginAsyncZod =>
  async (app) => {
    const html = await readFile(new URL('../demo/index.html', import.meta.url), 'utf8');
    const csp = contentSecurityPolicy(html, new URL(ctx.config.PUBLIC_BASE_URL).origin);

    app.get('/demo', { schema: { hide: true } }, async (_req, reply) =>
      reply
        .header('Content-Security-Policy', csp)
        .header('X-Content-Type-Options', 'nosniff')
        .header('Referrer-Policy', 'no-referrer')
        .type('text/html; charset=utf-8')
        .send(html),
    );

    app.post('/demo/uploads', { schema: { hide: true, body: demoUploadBody } }, async (req, reply) =>
      reply.status(201).send(await createUpload(ctx, { ...req.body, ownerId: DEMO_OWNER }, req.log)),
    );

    app.post('/demo/uploads/:assetId/complete', { schema: { hide: true, params: assetIdParams } }, async (req, reply) => {
      const result = await completeUpload(ctx, req.params.assetId, { ownerId: DEMO_OWNER });
      return reply.status(result.status === 'processing' ? 202 : 200).send(result);
    });

    app.get('/demo/assets/:assetId/wait', { schema: { hide: true, params: assetIdParams, querystring: waitQuery } }, async (req) =>
      waitForAsset(ctx, req.params.assetId, { timeoutMs: req.query.timeoutMs, signal: closeSignal(req), ownerId: DEMO_OWNER }),
    );
  };
