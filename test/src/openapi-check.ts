/**
 * A response validator against the OpenAPI document the API itself serves (`app.swagger()`, the
 * same object as `/docs/json`). Attached to the API in every stack (see stack.ts), it checks each
 * response the suites cause: its status is documented for that route and method, and a JSON body
 * matches the schema documented for that status (ajv, OpenAPI 3 `nullable` understood). Non-JSON
 * bodies (the /metrics text) get the status check and a check that the media type is documented.
 * Violations are collected and reported by `assertClean()`, which stack.close() calls.
 *
 * This is the check issue 15 asks for ("a validator replays the suite's traffic against
 * /docs/json"); Stoplight Prism cannot be installed here, so it is ajv against the served document.
 */
import { appendFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance } from 'fastify';

// ajv-formats is CommonJS: its default export arrives wrapped under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

export interface Violation {
  method: string;
  route: string;
  status: number;
  problem: string;
}

interface OpenApiDoc {
  paths?: Record<string, Record<string, { responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> }>>;
}

/** Fastify's `/v1/assets/:assetId` as the document spells it: `/v1/assets/{assetId}`. */
export const openApiPath = (fastifyUrl: string): string => fastifyUrl.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/**
 * Routes outside the API's contract, hidden from the document on purpose: the document itself
 * (Swagger UI under /docs) and the demo page's own endpoints (/demo, only with DEMO_PAGE=true).
 * Named here, not taken from `hide`, so a /v1 or ops route hidden by mistake is still caught.
 */
const OUTSIDE_CONTRACT = ['/docs', '/demo'];
const isOutsideContract = (url: string) => OUTSIDE_CONTRACT.some((p) => url === p || url.startsWith(`${p}/`));

const escapePointer = (s: string) => s.replaceAll('~', '~0').replaceAll('/', '~1');

export class ResponseValidator {
  private readonly found: Violation[] = [];
  private count = 0;
  /** Responses seen but not yet checked: see attach(). */
  private readonly pending: Array<[method: string, route: string, status: number, contentType: string, payload: unknown]> = [];
  private doc?: OpenApiDoc;
  private ajv?: Ajv;
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(private readonly app: FastifyInstance) {}

  /** Every violation so far (checks what is pending first). */
  get violations(): Violation[] {
    this.flush();
    return this.found;
  }

  /** How many responses were checked. */
  get checked(): number {
    this.flush();
    return this.count;
  }

  /**
   * Adds the hook; call before the app is ready (before listen). The hook only records: the
   * document is built and responses are checked when violations are asked for (at close, after the
   * workers stopped), so the check adds no work to the process while the suite's jobs run.
   */
  attach(): this {
    this.app.addHook('onSend', async (req, reply, payload) => {
      const url = req.routeOptions.url;
      // Unmatched URLs (the not-found handler), the docs UI and the demo page are outside the document.
      if (url && !isOutsideContract(url)) {
        this.pending.push([req.method, url, reply.statusCode, String(reply.getHeader('content-type') ?? ''), Buffer.isBuffer(payload) ? Buffer.from(payload) : payload]);
      }
      return payload;
    });
    return this;
  }

  private flush(): void {
    for (const [method, route, status, contentType, payload] of this.pending.splice(0)) {
      try {
        this.check(method, route, status, contentType, payload);
      } catch (err) {
        this.found.push({ method, route, status, problem: `validator error: ${(err as Error).message}` });
      }
    }
  }

  private document(): OpenApiDoc {
    if (!this.doc) {
      // A copy: the validator must not see (or change) a document other than the one served.
      this.doc = JSON.parse(JSON.stringify((this.app as unknown as { swagger: () => unknown }).swagger())) as OpenApiDoc;
      this.ajv = new Ajv({ strict: false, allErrors: true, discriminator: true });
      addFormats(this.ajv);
      this.ajv.addSchema(this.doc as object, 'openapi.json');
    }
    return this.doc;
  }

  /** Checks one response (false: a violation was recorded); public so a unit test can feed it directly. */
  check(method: string, route: string, status: number, contentType: string, payload: unknown): boolean {
    this.count++;
    const doc = this.document();
    const path = openApiPath(route);
    const m = method.toLowerCase();
    const violation = (problem: string) => {
      this.found.push({ method, route: path, status, problem });
      return false;
    };
    const op = doc.paths?.[path]?.[m];
    if (!op) return violation('the route is not in the document');
    const documented = op.responses?.[String(status)] ? String(status) : op.responses?.[`${String(status)[0]}XX`] ? `${String(status)[0]}XX` : op.responses?.default ? 'default' : undefined;
    if (!documented) return violation(`status ${status} is not documented (documented: ${Object.keys(op.responses ?? {}).join(', ')})`);
    const content = op.responses![documented]!.content;
    if (payload === undefined || payload === null || payload === '' || status === 204 || status === 304 || m === 'head') {
      // No body: fine when the response documents none, or any (an empty 204).
      return true;
    }
    const mediaType = contentType.split(';')[0]!.trim().toLowerCase();
    if (!content || Object.keys(content).length === 0) return violation(`a ${mediaType || 'untyped'} body where the document has none`);
    const key = Object.keys(content).find((k) => k.toLowerCase() === mediaType) ?? (content['*/*'] ? '*/*' : undefined);
    if (!key) return violation(`media type ${mediaType || '(none)'} is not documented (documented: ${Object.keys(content).join(', ')})`);
    if (!/^application\/([a-z0-9.+-]+\+)?json$/.test(mediaType)) return true; // non-JSON: status and media type only
    if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return true; // a stream: not buffered here
    let body: unknown;
    try {
      body = JSON.parse(payload.toString());
    } catch {
      return violation(`the body is not valid JSON though typed ${mediaType}`);
    }
    if (content[key]!.schema === undefined) return true;
    const pointer = `openapi.json#/paths/${escapePointer(path)}/${m}/responses/${escapePointer(documented)}/content/${escapePointer(key)}/schema`;
    let validate = this.compiled.get(pointer);
    if (!validate) {
      validate = this.ajv!.compile({ $ref: pointer });
      this.compiled.set(pointer, validate);
    }
    if (!validate(body)) {
      const errs = (validate.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || '(body)'} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
      return violation(`the body does not match the documented schema: ${errs.join('; ')}; body: ${JSON.stringify(body).slice(0, 300)}`);
    }
    return true;
  }

  /** Throws when any response broke the document, listing each distinct violation once. */
  assertClean(): void {
    // OPENAPI_CHECK_LOG=<file>: one line per validator (responses checked, violations), for a tally of a whole run.
    const violations = this.violations;
    if (process.env.OPENAPI_CHECK_LOG) appendFileSync(process.env.OPENAPI_CHECK_LOG, `${this.count} ${violations.length}\n`);
    if (violations.length === 0) return;
    const distinct = [...new Set(violations.map((v) => `${v.method} ${v.route} ${v.status}: ${v.problem}`))];
    throw new Error(`OpenAPI response validation: ${violations.length} response(s) break the served document (/docs/json):\n  ${distinct.join('\n  ')}`);
  }
}
