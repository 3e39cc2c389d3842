/**
 * Request validation: validQuery, validJson (media types, depth bound, UTF-8) and the iterative
 * jsonTextDepth and jsonProblem.
 */
import assert from 'node:assert/strict';
import { createFunctionApp } from '../../shared/http/app.ts';

Deno.test('http: validQuery drops the gateway parameters, refuses duplicates and unknown ones', async () => {
  const { z } = await import('zod');
  const { validQuery } = await import('../../shared/http/validate.ts');
  const app = createFunctionApp('demo');
  app.get(
    '/',
    validQuery(z.object({ limit: z.string().optional() }).strict()),
    (c) => c.json(c.req.valid('query')),
  );
  const ok = await app.request('/demo?limit=2&forceFunctionRegion=us-east-1');
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { limit: '2' });
  for (const path of ['/demo?region=x', '/demo?limit=1&limit=2']) {
    const res = await app.request(path);
    assert.equal(res.status, 400, path);
    assert.equal((await res.json()).error.code, 'invalid_query');
  }
});

Deno.test('http: validJson answers 415 for non-JSON media types and 400 past the depth bound', async () => {
  const { z } = await import('zod');
  const { validJson, MAX_BODY_DEPTH } = await import('../../shared/http/validate.ts');
  const app = createFunctionApp('demo');
  app.post(
    '/',
    validJson(z.object({ a: z.unknown() }).strict()),
    (c) => c.json(c.req.valid('json')),
  );
  const post = (body: string, contentType?: string) =>
    app.request('/demo', {
      method: 'POST',
      headers: contentType ? { 'content-type': contentType } : {},
      body: new Blob([body]),
    });
  for (const type of [undefined, 'text/plain', 'application/x-www-form-urlencoded', 'json']) {
    const res = await post('{"a":1}', type);
    assert.equal(res.status, 415, String(type));
    assert.equal((await res.json()).error.code, 'unsupported_media_type');
  }
  for (
    const type of ['application/json', 'Application/JSON; charset=utf-8', 'application/ld+json']
  ) {
    const res = await post('{"a":1}', type);
    assert.equal(res.status, 200, type);
    assert.deepEqual(await res.json(), { a: 1 });
  }
  const nested = (n: number) => '{"a":' + '['.repeat(n - 1) + ']'.repeat(n - 1) + '}';
  assert.equal((await post(nested(MAX_BODY_DEPTH), 'application/json')).status, 200);
  const deep = await post(nested(MAX_BODY_DEPTH + 1), 'application/json');
  assert.equal(deep.status, 400);
  assert.equal((await deep.json()).error.code, 'invalid_body');
  // Brackets inside strings do not count.
  assert.equal((await post(`{"a":"${'['.repeat(5000)}"}`, 'application/json')).status, 200);
  const notObject = await post('[1]', 'application/json');
  assert.equal((await notObject.json()).error.code, 'invalid_body');
  // JSON Patch is another operation, and JSON is UTF-8 only (fuzz findings).
  for (const type of ['application/json-patch+json', 'application/json; charset=latin1']) {
    const res = await post('{"a":1}', type);
    assert.equal(res.status, 415, type);
    assert.equal((await res.json()).error.code, 'unsupported_media_type');
  }
});

Deno.test('http: a body that is not valid UTF-8 is a 400, never stored with U+FFFD', async () => {
  const { z } = await import('zod');
  const { validJson } = await import('../../shared/http/validate.ts');
  const app = createFunctionApp('demo');
  app.post(
    '/',
    validJson(z.object({ a: z.string() }).strict()),
    (c) => c.json(c.req.valid('json')),
  );
  const send = (bytes: Uint8Array<ArrayBuffer>) =>
    app.request('/demo', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new Blob([bytes]),
    });
  const prefix = new TextEncoder().encode('{"a":"');
  const suffix = new TextEncoder().encode('"}');
  for (const bad of [[0xff], [0xc3, 0x28], [0xe2, 0x28, 0xa1], [0xed, 0xa0, 0x80]]) {
    const res = await send(new Uint8Array([...prefix, ...bad, ...suffix]));
    assert.equal(res.status, 400, JSON.stringify(bad));
    assert.equal((await res.json()).error.code, 'invalid_encoding');
  }
  const ok = await send(new TextEncoder().encode('{"a":"é€😀"}'));
  assert.deepEqual(await ok.json(), { a: 'é€😀' });
});

Deno.test('http: jsonTextDepth and jsonProblem are iterative (no stack overflow at 100,000 levels)', async () => {
  const { jsonTextDepth } = await import('../../shared/http/validate.ts');
  const { jsonProblem, PARAMS_LIMITS } = await import('../../shared/db/validate.ts');
  assert.equal(jsonTextDepth('{"a":[1,[2]],"b":"[[["}'), 3);
  assert.equal(jsonTextDepth('"\\"[["'), 0);
  assert.equal(jsonTextDepth('['.repeat(100_000), 32), 33, 'stops past the limit');
  let deep: unknown = {};
  for (let i = 0; i < 100_000; i++) deep = { a: deep };
  assert.match(jsonProblem(deep, PARAMS_LIMITS)!, /nests deeper than 5 levels/);
  assert.equal(jsonProblem({ a: [1, { b: 'x' }], c: null }, PARAMS_LIMITS), undefined);
  assert.match(jsonProblem({ a: ['\u0000'] }, PARAMS_LIMITS)!, /'a.0' must not contain NUL/);
  assert.match(jsonProblem({ ['\ud800']: 1 }, PARAMS_LIMITS)!, /surrogate/);
  const wide = Array.from({ length: 20 }, () => Array.from({ length: 200 }, () => 1));
  assert.match(jsonProblem({ wide }, PARAMS_LIMITS)!, /more than 2000 values/);
});
