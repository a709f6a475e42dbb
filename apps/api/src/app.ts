import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ApiContext } from './context.js';
import { createApiMetrics } from './metrics.js';
import { bearerAuth } from './plugins/auth.js';
import { frameworkErrorHandler, registerErrorHandling } from './plugins/errors.js';
import { answerWhileClosing, closeUnreadConnections, edgeServerOptions } from './plugins/http-edge.js';
import { registerJsonBody } from './plugins/json-body.js';
import { AccessLogController, registerAccessNotes } from './plugins/request-log.js';
import { assetRoutes } from './routes/assets.js';
import { demoRoutes } from './routes/demo.js';
import { healthRoutes } from './routes/health.js';
import { ownerRoutes } from './routes/owners.js';
import { rehostRoutes } from './routes/rehost.js';
import { similarRoutes } from './routes/similar.js';
import { uploadRoutes } from './routes/uploads.js';

/** Builds the producer API: validate, write, enqueue, answer. No job work happens here. */
export async function buildApp(ctx: ApiContext): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: ctx.log as FastifyBaseLogger,
    logController: new AccessLogController(),
    bodyLimit: 64 * 1024,
    genReqId: (req) => (req.headers['x-request-id'] as string | undefined)?.slice(0, 64) ?? crypto.randomUUID(),
    ...edgeServerOptions(ctx.config),
    frameworkErrors: frameworkErrorHandler,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandling(app as unknown as FastifyInstance);
  registerJsonBody(app as unknown as FastifyInstance);
  registerAccessNotes(app as unknown as FastifyInstance);
  closeUnreadConnections(app as unknown as FastifyInstance);
  answerWhileClosing(app as unknown as FastifyInstance);

  const metrics = createApiMetrics(ctx.queues);
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.httpRequests.inc({ method: req.method, route, status: String(reply.statusCode) });
    metrics.httpDuration.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });

  await app.register(swagger, {
    openapi: {
      info: { title: 'rehost API', version: '1.0.0', description: 'Permanent, CDN-served homes for user images.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  await app.register(healthRoutes(ctx, metrics));
  if (ctx.config.DEMO_PAGE) await app.register(demoRoutes(ctx));
  await app.register(async (v1) => {
    v1.addHook('onRequest', bearerAuth(ctx.config.API_TOKENS, { allowAnonymous: ctx.config.API_ALLOW_ANONYMOUS }));
    await v1.register(uploadRoutes(ctx));
    await v1.register(assetRoutes(ctx));
    await v1.register(rehostRoutes(ctx));
    await v1.register(ownerRoutes(ctx));
    await v1.register(similarRoutes(ctx));
  });
  return app as unknown as FastifyInstance;
}
