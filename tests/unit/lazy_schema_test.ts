/**
 * Cold start (issue 11, target 4a, third pass): the routes' and rows' zod schemas are built on
 * first use (`lazySchema`, shared/db/validate.ts), a plain listing query (`?limit=5`) is parsed
 * without zod, and the rate limit's settings are read without their schema when plainly valid.
 * A lazy schema behaves as the schema it stands for; the plain paths yield exactly what the
 * schemas yield (same keys in the same order) and leave everything else to them (same errors).
 * In a fresh process, importing robots or strategies builds no schema, nor does their first
 * listing request or read by id.
 */
import assert from 'node:assert/strict';
import { Hono } from 'hono';
import { z } from 'zod';
import { lazySchema, lazySchemasBuilt } from '../../shared/db/validate.ts';
import {
  idParams,
  listingQuerySchemas,
  validParams,
  validQuery,
} from '../../shared/http/validate.ts';
import { ApiError } from '../../shared/http/errors.ts';
import { ROBOT_FIELDS } from '../../shared/db/mod.ts';
import {
  rateLimitEnvBindings,
  rateLimitSettingsFromEnv,
  rateLimitSettingsSchema,
} from '../../shared/http/rate_limit/settings.ts';
import { readEnvBindings } from '../../shared/optimizer/env.ts';
import { databaseUrl } from '../support/services.ts';
import { runInFunction } from '../support/fresh_process.ts';

const root = new URL('../../', import.meta.url);

Deno.test('lazySchema: built on first use, once, and used as the schema itself', () => {
  let builds = 0;
  const lazy = lazySchema('test.point', () => {
    builds++;
    return z.object({ x: z.number(), y: z.number().optional() }).strict();
  });
  assert.equal(builds, 0);
  assert.equal(lazySchemasBuilt().includes('test.point'), false);
  assert.deepEqual(lazy.parse({ x: 1 }), { x: 1 });
  assert.equal(builds, 1);
  assert.equal(lazySchemasBuilt().includes('test.point'), true);
  assert.equal(lazy.safeParse({ x: 'a' }).success, false);
  assert.deepEqual(Object.keys(lazy.shape), ['x', 'y']);
  assert.ok('shape' in lazy);
  assert.ok(lazy instanceof z.ZodObject);
  assert.deepEqual(lazy.omit({ y: true }).parse({ x: 2 }), { x: 2 });
  assert.throws(() => lazy.omit({ y: true }).parse({ x: 2, y: 3 }));
  // Nested in another schema, refined, made optional.
  const outer = z.object({ p: lazy, q: lazy.optional() });
  assert.deepEqual(outer.parse({ p: { x: 1 } }), { p: { x: 1 } });
  assert.equal(outer.safeParse({ p: { x: 1, z: 0 } }).success, false);
  assert.equal(lazy.refine((v) => v.x > 0, 'positive').safeParse({ x: -1 }).success, false);
  assert.equal(lazy.parse, lazy.parse, 'a method read twice is the same function');
  assert.equal(builds, 1);
});

/** A listing route answering the validated query as JSON text (its keys in output order). */
function listingApp(schema: z.ZodType) {
  const app = new Hono();
  app.onError((error) =>
    error instanceof ApiError
      ? Response.json({ code: error.code, message: error.message }, { status: error.status })
      : Response.json({ code: 'internal' }, { status: 500 })
  );
  app.get('/', validQuery(schema), (c) => c.text(JSON.stringify(c.req.valid('query'))));
  return app;
}

Deno.test('listing query: the plain path yields what the schema yields, and refuses what it refuses', async () => {
  const { list, detail } = listingQuerySchemas(ROBOT_FIELDS);
  const app = listingApp(list);
  const queries = [
    '',
    'limit=5',
    'limit=1',
    'limit=100',
    'limit=101',
    'limit=0',
    'limit=007',
    'limit=5.0',
    'limit=-1',
    'limit=+5',
    'limit= 5',
    'limit=',
    'limit=99999999999999999999',
    'limit=%D9%A5', // an Arabic-Indic digit
    'strategy_type=grid',
    'strategy_type=GRID',
    'strategy_type=',
    'total=exact&limit=20&strategy_type=momentum',
    'total=estimated',
    'total=none',
    'total=all',
    'limit=5&limit=6',
    'limit=5&unknown=1',
    '__proto__=x',
    'constructor=x',
    'fields=id,name&limit=3',
    'cursor=nope',
    'limit=5&forceFunctionRegion=eu-west-1',
  ];
  for (const query of queries) {
    const res = await app.request(`/?${query}`);
    const text = await res.text();
    const input = Object.fromEntries(
      [...new URLSearchParams(query)].filter(([name]) => name !== 'forceFunctionRegion'),
    );
    const expected = list.safeParse(input);
    if (res.status === 200) {
      assert.ok(expected.success, `${query}: accepted, the schema refuses it`);
      assert.equal(text, JSON.stringify(expected.data), query);
    } else {
      assert.equal(res.status, 400, `${query}: ${text}`);
      const body = JSON.parse(text);
      assert.equal(body.code, 'invalid_query', query);
      if (!query.startsWith('limit=5&limit=6')) assert.equal(expected.success, false, query);
    }
  }
  const detailApp = listingApp(detail);
  for (const query of ['', 'fields=id', 'fields=nope', 'x=1']) {
    const res = await detailApp.request(`/?${query}`);
    const expected = detail.safeParse(Object.fromEntries(new URLSearchParams(query)));
    assert.equal(res.status, expected.success ? 200 : 400, query);
    const text = await res.text();
    if (expected.success) assert.equal(text, JSON.stringify(expected.data), query);
  }
});

Deno.test('id parameter: the plain path yields what the schema yields, and refuses what it refuses', async () => {
  const app = new Hono();
  app.onError((error) =>
    error instanceof ApiError
      ? Response.json({ code: error.code, message: error.message }, { status: error.status })
      : Response.json({ code: 'internal' }, { status: 500 })
  );
  app.get('/:id', validParams(idParams, 'robot id'), (c) => c.json(c.req.valid('param')));
  for (
    const id of [
      '0f8fad5b-d9cb-469f-a165-70867728950e',
      '0F8FAD5B-D9CB-469F-A165-70867728950E',
      '00000000-0000-0000-0000-000000000000',
      'ffffffff-ffff-9fff-ffff-ffffffffffff',
      '0f8fad5b-d9cb-469f-a165-70867728950',
      '0f8fad5b-d9cb-469f-a165-70867728950ef',
      '0f8fad5bd9cb469fa16570867728950e',
      'g f8fad5b-d9cb-469f-a165-70867728950e',
      'nope',
    ]
  ) {
    const res = await app.request(`/${encodeURIComponent(id)}`);
    const expected = idParams.safeParse({ id });
    assert.equal(res.status, expected.success ? 200 : 400, id);
    const body = await res.json();
    if (expected.success) assert.deepEqual(body, expected.data, id);
    else assert.equal(body.code, 'invalid_id', id);
  }
});

Deno.test('rate limit settings: the plain path yields what the schema yields', () => {
  const env = (values: Record<string, string>) => (name: string) => values[name];
  const cases: Record<string, string>[] = [
    {},
    { QF_RATELIMIT_ENABLED: 'false' },
    { QF_RATELIMIT_ANON_LIMIT: '1', QF_RATELIMIT_USER_LIMIT: '1000000' },
    { QF_RATELIMIT_SERVICE_LIMIT: '0', QF_RATELIMIT_WINDOW_MS: '100', QF_RATELIMIT_PREFIX: 'p' },
    { QF_RATELIMIT_TIMEOUT_MS: '10000', QF_RATELIMIT_FALLBACK_MS: '600000' },
  ];
  for (const values of cases) {
    const viaSchema = rateLimitSettingsSchema.parse(
      readEnvBindings(rateLimitEnvBindings, env(values)),
    );
    assert.deepEqual(rateLimitSettingsFromEnv(env(values)), viaSchema, JSON.stringify(values));
  }
  // Out of bounds, not an integer, an empty prefix: the schema's errors, as before.
  for (
    const [values, message] of [
      [{ QF_RATELIMIT_ANON_LIMIT: '0' }, /'anonLimit' \(QF_RATELIMIT_ANON_LIMIT\)/],
      [{ QF_RATELIMIT_WINDOW_MS: '99' }, /'windowMs' \(QF_RATELIMIT_WINDOW_MS\)/],
      [{ QF_RATELIMIT_TIMEOUT_MS: '1.5' }, /'timeoutMs' \(QF_RATELIMIT_TIMEOUT_MS\)/],
      [{ QF_RATELIMIT_PREFIX: 'x'.repeat(101) }, /'prefix' \(QF_RATELIMIT_PREFIX\)/],
    ] as const
  ) {
    assert.throws(() => rateLimitSettingsFromEnv(env(values)), message);
  }
  assert.throws(
    () => rateLimitSettingsFromEnv(env({}), { userLimit: Number.NaN }),
    /'userLimit'/,
  );
});

async function fresh(fn: string, request: string) {
  const out = await runInFunction(
    fn,
    `
    const { app } = await import('${new URL(`supabase/functions/${fn}/app.ts`, root)}');
    const { lazySchemasBuilt } = await import('${new URL('shared/db/validate.ts', root)}');
    const atImport = [...lazySchemasBuilt()];
    const res = await app.fetch(new Request('http://localhost${request}'));
    const body = await res.json();
    console.log(JSON.stringify({ status: res.status, items: body.items?.length, atImport, afterFirst: lazySchemasBuilt() }));
    Deno.exit(0);
  `,
    { SUPABASE_DB_URL: databaseUrl() },
  );
  assert.equal(out.code, 0, out.stderr);
  return JSON.parse(out.stdout);
}

for (const fn of ['robots', 'strategies']) {
  Deno.test(`lazy schemas: ${fn} builds none at import nor for its first listing or read by id`, async () => {
    const first = await fresh(fn, `/${fn}/public?limit=5`);
    assert.equal(first.status, 200);
    assert.deepEqual(first.atImport, []);
    assert.deepEqual(first.afterFirst, []);
    // A query the plain path leaves to the schema builds that schema only.
    const fields = await fresh(fn, `/${fn}/public?limit=2&fields=id,name`);
    assert.equal(fields.status, 200);
    assert.deepEqual(fields.afterFirst, ['listingQuery.list']);
    // A read by id (here of no row: 404) neither.
    const byId = await fresh(fn, `/${fn}/0F8FAD5B-D9CB-469F-A165-70867728950E`);
    assert.equal(byId.status, 404);
    assert.deepEqual(byId.afterFirst, []);
  });
}
