import assert from 'node:assert/strict';
import { z } from 'zod';
import { createFunctionApp } from '../../shared/http/app.ts';
import { optionalJsonBody } from '../../supabase/functions/_shared/optional_json.ts';

const schema = z.object({
  trigger: z.string().min(1).optional(),
  limit: z.number().default(10),
}).strict();

function app(maxBytes?: number) {
  const a = createFunctionApp('demo');
  a.post('/', async (c) => c.json(await optionalJsonBody(c, schema, maxBytes)));
  return a;
}

const post = (body: string, type = 'application/json', maxBytes?: number) =>
  app(maxBytes).request('/demo', { method: 'POST', body, headers: { 'content-type': type } });

Deno.test('optional_json: an empty body is {} through the schema (defaults apply)', async () => {
  const res = await app().request('/demo', { method: 'POST' });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { limit: 10 });
  assert.deepEqual(await (await post('  ', 'text/plain')).json(), { limit: 10 });
});

Deno.test('optional_json: a valid JSON body is parsed and validated', async () => {
  const res = await post('{"trigger":"cron","limit":3}', 'application/json; charset=utf-8');
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { trigger: 'cron', limit: 3 });
});

Deno.test('optional_json: bad input is a JSON 4xx with code and message', async () => {
  const cases: [Response, number, string][] = [
    [await post('{"trigger":"x"}', 'text/plain'), 415, 'unsupported_media_type'],
    [await post('{"trigger":'), 400, 'invalid_json'],
    [await post('{"trigger":""}'), 400, 'invalid_body'],
    [await post('{"other":1}'), 400, 'invalid_body'],
    [
      await post(`{"trigger":"${'x'.repeat(200)}"}`, 'application/json', 100),
      413,
      'body_too_large',
    ],
  ];
  for (const [res, status, code] of cases) {
    assert.equal(res.status, status);
    const { error } = await res.json();
    assert.equal(error.code, code);
    assert.equal(typeof error.message, 'string');
  }
  const refused = await (await post('{"trigger":""}')).json();
  assert.match(refused.error.message, /^trigger: /);
  assert.equal(refused.error.details[0].path, 'trigger');
});

Deno.test('optional_json: without maxBytes any size is read', async () => {
  const res = await post(`{"trigger":"${'x'.repeat(50_000)}"}`);
  assert.equal(res.status, 200);
});
