/**
 * Property: whatever a client sends to any /v1 route — a body shaped like the route's schema but
 * with hostile values (lone surrogates, NUL, prototype keys, deep nesting, wrong types), any JSON
 * at all, odd path and query values — the API never answers 5xx, and every 4xx is
 * `{"error":{"code","message"}}` and nothing else.
 *
 * The routes and their body, path and query schemas are read from the API's own OpenAPI document,
 * so a route added later is covered without touching this file. Runs are bounded (RUNS per route).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as fc from 'fast-check';
import { type Stack, startStack } from './stack.js';

const RUNS = 60;

let stack: Stack;
let routes: Route[] = [];

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  items?: JsonSchema;
  default?: unknown;
  format?: string;
}
interface Route {
  method: string;
  path: string;
  pathParams: string[];
  query: { name: string; schema: JsonSchema }[];
  body?: JsonSchema;
  /** Statuses the OpenAPI document says the route answers. */
  documented: string[];
}

beforeAll(async () => {
  stack = await startStack({
    worker: false,
    // A configured bot and signing secret, so bodies get past those checks to the database.
    env: { TELEGRAM_BOT_TOKEN: '123456:property-test-token-never-called', WEBHOOK_SIGNING_SECRET: 'property-test-webhook-secret-123' },
  });
  const doc = (await (await fetch(`${stack.baseUrl}/docs/json`)).json()) as {
    paths: Record<
      string,
      Record<string, { parameters?: { in: string; name: string; schema: JsonSchema }[]; requestBody?: { content: Record<string, { schema: JsonSchema }> }; responses: Record<string, unknown> }>
    >;
  };
  for (const [path, ops] of Object.entries(doc.paths)) {
    if (!path.startsWith('/v1/')) continue;
    for (const [method, op] of Object.entries(ops)) {
      routes.push({
        method: method.toUpperCase(),
        path,
        pathParams: (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name),
        query: (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => ({ name: p.name, schema: p.schema })),
        body: op.requestBody?.content['application/json']?.schema,
        documented: Object.keys(op.responses),
      });
    }
  }
  routes = routes.sort((a, b) => `${a.method} ${a.path}`.localeCompare(`${b.method} ${b.path}`));
});
afterAll(async () => {
  await stack?.close();
});

/** Strings a database, a parser or a merge might choke on, mixed into ordinary ones. */
const hostileString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('\ud800', 'a\udfffb', '\u0000', 'x\u0000', '__proto__', 'constructor', 'prototype', '', ' ', '%00', '../../etc/passwd', 'IMAGE/PNG; charset=binary'),
  fc
    .array(fc.oneof(fc.string({ maxLength: 3 }), fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c))), { maxLength: 5 })
    .map((parts) => parts.join('')),
);

const hostileKey = fc.oneof(hostileString, fc.constantFrom('__proto__', 'constructor', 'prototype'));

/** Any JSON value, with hostile strings and keys, and sometimes nested far too deep. */
const hostileJson: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileString,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(hostileKey, tie('value'), { maxKeys: 4 }),
    fc.tuple(fc.integer({ min: 15, max: 60 }), fc.oneof(hostileString, fc.constant(1))).map(([depth, leaf]) => {
      let v: unknown = leaf;
      for (let i = 0; i < depth; i++) v = { a: v };
      return v;
    }),
  ),
})).value;

/** A value shaped by `schema` (so checks further in are reached), with hostile leaves. */
function shaped(schema: JsonSchema | undefined, depth = 0): fc.Arbitrary<unknown> {
  if (!schema || depth > 6) return hostileJson;
  const variants = schema.oneOf ?? schema.anyOf;
  if (variants) return fc.oneof(...variants.map((s) => shaped(s, depth + 1)));
  if (schema.enum) return fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...schema.enum) }, { weight: 1, arbitrary: hostileString });
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'object': {
      const props = Object.entries(schema.properties ?? {});
      if (props.length === 0) {
        // A free-form object (metadata): plain keys and values mostly, hostile ones sometimes.
        const plain = fc.dictionary(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }), fc.oneof(fc.string(), fc.integer(), fc.boolean()), { maxKeys: 4 });
        return fc.oneof({ weight: 3, arbitrary: plain }, { weight: 1, arbitrary: fc.dictionary(hostileKey, hostileJson, { maxKeys: 5 }) }, { weight: 1, arbitrary: hostileJson });
      }
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [name, prop] of props) record[name] = fc.oneof({ weight: 15, arbitrary: shaped(prop, depth + 1) }, { weight: 1, arbitrary: hostileJson });
      return fc.oneof(
        { weight: 5, arbitrary: fc.record(record, { requiredKeys: schema.required?.filter((k) => k in record) ?? [] }) },
        { weight: 1, arbitrary: fc.tuple(fc.record(record), fc.dictionary(hostileKey, hostileJson, { maxKeys: 2 })).map(([a, b]) => Object.assign(b, a)) },
        { weight: 1, arbitrary: hostileJson },
      );
    }
    case 'string':
      if (schema.format === 'uri') {
        return fc.oneof(hostileString, fc.webUrl(), fc.constantFrom('http://127.0.0.1/a.png', 'https://api.telegram.org/file/bot1:x/a.png'));
      }
      return fc.oneof(
        { weight: 4, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }) },
        { weight: 1, arbitrary: hostileString },
        { weight: 1, arbitrary: fc.constantFrom('image/png', 'IMAGE/JPEG; q=1', 'text/html', 'default') },
      );
    case 'integer':
    case 'number':
      // Small, or out of range: a valid large timeout would make a long-poll wait for real.
      return fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: -5, max: 50 }) },
        { weight: 1, arbitrary: fc.constantFrom(1e12, -1, 1.5, Number.MAX_SAFE_INTEGER) },
        { weight: 1, arbitrary: hostileString },
      );
    case 'array':
      return fc.array(shaped(schema.items, depth + 1), { maxLength: 3 });
    default:
      return hostileJson;
  }
}

/** A query-string value: what the schema asks for, empty, or anything else. */
function queryValue(schema: JsonSchema): fc.Arbitrary<string> {
  return fc.oneof(
    shaped(schema).map((v) => (typeof v === 'string' ? v : JSON.stringify(v) ?? '')),
    fc.constantFrom('', '%', '%E0%A4%A', '%00', '%ED%A0%80'),
    hostileString,
  );
}

/** Encodes what can be encoded; a lone surrogate cannot, so it is sent as raw bad UTF-8 escapes. */
function encode(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return '%ED%A0%80';
  }
}

/** Valid bodies of the routes that need one: most runs change one field of it, so they get as far as the database. */
const EXAMPLES: Record<string, Record<string, unknown>> = {
  'POST /v1/uploads': { contentType: 'image/png', size: 100 },
  'POST /v1/rehost': { source: { type: 'telegram', fileId: 'property-file' } },
};

/** `example` with at most one field replaced by a shaped, possibly hostile, value. */
function oneFieldChanged(example: Record<string, unknown>, schema: JsonSchema): fc.Arbitrary<unknown> {
  const props = schema.properties ?? {};
  const names = Object.keys(props);
  if (names.length === 0) return fc.constant(example);
  return fc.option(fc.constantFrom(...names), { nil: undefined, freq: 5 }).chain((name) =>
    name === undefined ? fc.constant(example) : shaped(props[name]).map((v) => ({ ...example, [name]: v })),
  );
}

function requestFor(route: Route): fc.Arbitrary<{ url: string; body?: string }> {
  const params = route.pathParams.map(() => fc.oneof(fc.uuid(), hostileString.map(encode), fc.constantFrom('%E0%A4%A', '..', '%2F')));
  const query = route.query.map((q) => fc.option(queryValue(q.schema), { nil: undefined }).map((v) => (v === undefined ? '' : `${q.name}=${/^%/.test(v) ? v : encode(v)}`)));
  const example = EXAMPLES[`${route.method} ${route.path}`];
  const body = route.body
    ? fc.oneof(
        { weight: example ? 6 : 0, arbitrary: example ? oneFieldChanged(example, route.body) : fc.constant(undefined) },
        { weight: 3, arbitrary: shaped(route.body) },
        { weight: 1, arbitrary: hostileJson },
      )
    : fc.constant(undefined);
  return fc.tuple(fc.tuple(...params), fc.tuple(...query), body).map(([ps, qs, b]) => {
    let i = 0;
    const path = route.path.replace(/\{[^}]+\}/g, () => String(ps[i++]));
    const q = qs.filter(Boolean).join('&');
    return { url: `${path}${q ? `?${q}` : ''}`, body: b === undefined ? undefined : JSON.stringify(b) };
  });
}

describe('every /v1 route, any input', () => {
  it('finds the routes in the OpenAPI document', () => {
    expect(routes.map((r) => `${r.method} ${r.path}`)).toEqual(expect.arrayContaining(['POST /v1/uploads', 'POST /v1/rehost', 'GET /v1/assets/{assetId}/wait']));
  });

  it('never answers 5xx, and every error is {error:{code,message}}', async () => {
    const seen: Record<string, Record<number, number>> = {};
    for (const route of routes) {
      const name = `${route.method} ${route.path}`;
      seen[name] = {};
      await fc.assert(
        fc.asyncProperty(requestFor(route), async ({ url, body }) => {
          const res = await stack.call(url, {
            method: route.method,
            ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }),
            signal: AbortSignal.timeout(10_000),
          });
          seen[name]![res.status] = (seen[name]![res.status] ?? 0) + 1;
          expect({ name, url, status: res.status, body: res.status >= 500 ? res.body : undefined }).toEqual({ name, url, status: expect.any(Number), body: undefined });
          expect(res.status).toBeLessThan(500);
          if (res.status >= 400) {
            expect(res.body).toEqual({ error: { code: expect.any(String), message: expect.any(String) } });
          }
        }),
        { numRuns: RUNS, endOnFailure: true },
      );
    }
    console.log(`statuses seen: ${JSON.stringify(seen)}`);
    // Every status answered is one the OpenAPI document lists for that route.
    for (const route of routes) {
      const name = `${route.method} ${route.path}`;
      const undocumented = Object.keys(seen[name]!).filter((status) => !route.documented.includes(status));
      expect({ name, undocumented }).toEqual({ name, undocumented: [] });
    }
    // The inputs reached past validation too, not only 400s.
    expect(Object.values(seen).some((s) => Object.keys(s).some((code) => Number(code) < 300))).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  }, 120_000);
});
