/**
 * Over 400 lines on purpose: the Upstash REST bridge's contract, one case per command family,
 * against one real redis-server.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { Redis, type RedisConfigNodejs } from '@upstash/redis';
import { Redis as IORedis } from 'ioredis';
import { rewriteScriptFlags, startRedisBridge } from '../../scripts/redis-bridge.ts';
import { startRedisServer } from '../../scripts/services/redis.ts';
import { redisUrl, upstashBridge } from '../support/services.ts';

const run = crypto.randomUUID().slice(0, 8);
/** A key unique to this run and test, so parallel files sharing the Redis never collide. */
const k = (name: string) => `qf-bridge:${run}:${name}`;

function client(options: Partial<RedisConfigNodejs> = {}): Redis {
  const { url, token } = upstashBridge();
  return new Redis({ url, token, enableTelemetry: false, retry: false, ...options });
}

/** A raw REST call, to check status codes and bodies exactly. */
async function rest(
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: unknown }> {
  const { url, token } = upstashBridge();
  const response = await fetch(url + path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');

async function cleanup(redis: Redis, ...keys: string[]) {
  if (keys.length > 0) await redis.del(...keys);
}

for (const enableAutoPipelining of [false, true]) {
  Deno.test(`bridge: @upstash/redis commands (auto-pipelining ${enableAutoPipelining ? 'on' : 'off'})`, async () => {
    const redis = client({ enableAutoPipelining });
    const keys = [k(`ap${enableAutoPipelining}:a`), k(`ap${enableAutoPipelining}:n`)];
    try {
      const [set, incr1, incr2, hset] = await Promise.all([
        redis.set(keys[0], { robot: 'EA-1', score: 0.75, tags: ['fx'] }),
        redis.incr(keys[1]),
        redis.incrby(keys[1], 10),
        redis.hset(keys[0] + ':h', { field: 'value' }),
      ]);
      assert.equal(set, 'OK');
      assert.deepEqual([incr1, incr2].sort((a, b) => a - b), [1, 11]);
      assert.equal(hset, 1);
      const [value, counter, hash, missing] = await Promise.all([
        redis.get(keys[0]),
        redis.get(keys[1]),
        redis.hgetall(keys[0] + ':h'),
        redis.get(k('missing')),
      ]);
      assert.deepEqual(value, { robot: 'EA-1', score: 0.75, tags: ['fx'] });
      assert.equal(counter, 11);
      assert.deepEqual(hash, { field: 'value' });
      assert.equal(missing, null);
      assert.equal(await redis.ping(), 'PONG');
    } finally {
      await cleanup(redis, ...keys, keys[0] + ':h');
    }
  });
}

for (const responseEncoding of ['base64', false] as const) {
  Deno.test(`bridge: non-ASCII and typed values round-trip (responseEncoding ${responseEncoding})`, async () => {
    const redis = client({ responseEncoding });
    const key = k(`enc-${responseEncoding}`);
    try {
      const text = 'Stratégie Ω 日本語 🚀📈 "quoted" \\ back';
      await redis.set(key, text);
      assert.equal(await redis.get(key), text);
      // A string of digits is parsed as a number by the client's automatic deserialization,
      // as on Upstash; raw (no deserialization) it stays a string.
      await redis.set(key, '123');
      const raw = client({ responseEncoding, automaticDeserialization: false });
      assert.equal(await raw.get(key), '123');
      await redis.zadd(key + ':z', { score: 1.5, member: 'ü' }, { score: 3, member: '😀' });
      assert.deepEqual(await redis.zrange(key + ':z', 0, -1, { withScores: true }), [
        'ü',
        1.5,
        '😀',
        3,
      ]);
      await redis.sadd(key + ':s', 'α', 'β');
      assert.deepEqual((await redis.smembers(key + ':s')).sort(), ['α', 'β']);
    } finally {
      await cleanup(redis, key, key + ':z', key + ':s');
    }
  });
}

Deno.test('bridge: base64 encoding on the wire', async () => {
  const key = k('wire');
  try {
    await rest('/', ['SET', key, 'héllo 😀']);
    const plain = await rest('/', ['GET', key]);
    assert.deepEqual(plain, { status: 200, json: { result: 'héllo 😀' } });
    const b64 = await rest('/', ['GET', key], { 'Upstash-Encoding': 'base64' });
    assert.deepEqual(b64.json, { result: Buffer.from('héllo 😀').toString('base64') });
    // "OK" stays plain, integers stay numbers, nil is null, arrays are encoded item by item.
    assert.deepEqual((await rest('/', ['SET', key, 'x'], { 'Upstash-Encoding': 'base64' })).json, {
      result: 'OK',
    });
    await rest('/', ['RPUSH', key + ':l', 'a', 'OK', '😀']);
    assert.deepEqual(
      (await rest('/', ['LRANGE', key + ':l', 0, -1], { 'Upstash-Encoding': 'base64' })).json,
      {
        result: ['YQ==', 'T0s=', Buffer.from('😀').toString('base64')],
      },
    );
    assert.deepEqual(
      (await rest('/', ['INCR', key + ':n'], { 'Upstash-Encoding': 'base64' })).json,
      {
        result: 1,
      },
    );
    assert.deepEqual(
      (await rest('/', ['GET', k('absent')], { 'Upstash-Encoding': 'base64' })).json,
      {
        result: null,
      },
    );
    assert.deepEqual((await rest('/', ['PING'], { 'Upstash-Encoding': 'base64' })).json, {
      result: 'UE9ORw==',
    });
  } finally {
    await rest('/', ['DEL', key, key + ':l', key + ':n']);
  }
});

Deno.test('bridge: binary values are byte-exact with base64', async () => {
  const key = k('binary');
  const bytes = new Uint8Array([0xff, 0x00, 0xfe, 0x41, 0x80, 0x0a]);
  const { url, token } = upstashBridge();
  try {
    // The path form takes a POST body as the last argument, byte for byte.
    const set = await fetch(`${url}/set/${encodeURIComponent(key)}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: bytes,
    });
    assert.deepEqual(await set.json(), { result: 'OK' });
    const got = await rest('/', ['GET', key], { 'Upstash-Encoding': 'base64' });
    assert.deepEqual(
      new Uint8Array(Buffer.from((got.json as { result: string }).result, 'base64')),
      bytes,
    );
    assert.deepEqual((await rest('/', ['STRLEN', key])).json, { result: bytes.length });
  } finally {
    await rest('/', ['DEL', key]);
  }
});

Deno.test('bridge: explicit pipeline keeps order; errors per command', async () => {
  const redis = client();
  const key = k('pipe');
  try {
    const p = redis.pipeline();
    p.set(key, 'v1');
    p.get(key);
    p.incr(key + ':n');
    p.incr(key + ':n');
    p.set(key, 'v2');
    p.get(key);
    assert.deepEqual(await p.exec(), ['OK', 'v1', 1, 2, 'OK', 'v2']);

    const failing = redis.pipeline();
    failing.set(key + ':s', 'text');
    failing.incr(key + ':s');
    failing.get(key + ':s');
    await assert.rejects(
      failing.exec(),
      /Command 2 \[ incr \] failed: ERR value is not an integer/,
    );

    const kept = redis.pipeline();
    kept.incr(key + ':s');
    kept.get(key + ':s');
    const results = await kept.exec({ keepErrors: true });
    assert.match(String(results[0].error), /ERR value is not an integer/);
    assert.equal(results[1].result, 'text');

    const raw = await rest('/pipeline', [['SET', key, 'x'], ['INCR', key], ['GET', key]]);
    assert.equal(raw.status, 200);
    assert.deepEqual(raw.json, [
      { result: 'OK' },
      { error: 'ERR value is not an integer or out of range' },
      { result: 'x' },
    ]);
  } finally {
    await cleanup(redis, key, key + ':n', key + ':s');
  }
});

Deno.test('bridge: multi-exec is a transaction', async () => {
  const redis = client();
  const key = k('tx');
  try {
    const tx = redis.multi();
    tx.set(key, 5);
    tx.incrby(key, 3);
    tx.get(key);
    assert.deepEqual(await tx.exec(), ['OK', 8, 8]);

    // A runtime error inside EXEC fails that command only, as in Redis.
    const raw = await rest('/multi-exec', [['SET', key + ':s', 'a'], ['INCR', key + ':s'], [
      'GET',
      key + ':s',
    ]]);
    assert.deepEqual(raw, {
      status: 200,
      json: [{ result: 'OK' }, { error: 'ERR value is not an integer or out of range' }, {
        result: 'a',
      }],
    });
    // A command Redis refuses to queue discards the whole transaction: one 400 error.
    const discarded = await rest('/multi-exec', [['SET', key + ':d', '1'], ['SET', key + ':d']]);
    assert.equal(discarded.status, 400);
    assert.match((discarded.json as { error: string }).error, /wrong number of arguments/);
    assert.equal(await redis.get(key + ':d'), null);
  } finally {
    await cleanup(redis, key, key + ':s', key + ':d');
  }
});

Deno.test('bridge: error replies are 400 {error} and the client throws UpstashError', async () => {
  const redis = client();
  const key = k('err');
  try {
    await redis.set(key, 'not a number');
    await assert.rejects(redis.incr(key), (error: Error) => {
      assert.equal(error.name, 'UpstashError');
      // 1.39 words it 'Command failed: <Redis error>'.
      assert.match(
        error.message,
        /^(Command failed: )?ERR value is not an integer or out of range/,
      );
      return true;
    });
    await redis.sadd(key + ':set', 'm');
    await assert.rejects(redis.get(key + ':set'), /^UpstashError: WRONGTYPE|WRONGTYPE/);
    const raw = await rest('/', ['INCR', key]);
    assert.deepEqual(raw, {
      status: 400,
      json: { error: 'ERR value is not an integer or out of range' },
    });
    const unknown = await rest('/', ['NOSUCHCOMMAND', 'x']);
    assert.equal(unknown.status, 400);
    assert.match((unknown.json as { error: string }).error, /unknown command/);
    const unsupported = await rest('/', ['MULTI']);
    assert.equal(unsupported.status, 400);
    const malformed = await rest('/', '{"not":"an array"}');
    assert.equal(malformed.status, 400);
    assert.match((malformed.json as { error: string }).error, /JSON array/);
  } finally {
    await cleanup(redis, key, key + ':set');
  }
});

Deno.test('bridge: a missing or wrong token is 401 {error: "Unauthorized"}', async () => {
  const { url, token } = upstashBridge();
  for (const authorization of [undefined, 'Bearer wrong', `Bearer ${token}x`, token]) {
    const response = await fetch(url, {
      method: 'POST',
      headers: authorization ? { authorization } : {},
      body: '["PING"]',
    });
    assert.equal(response.status, 401, `authorization ${authorization}`);
    assert.deepEqual(await response.json(), { error: 'Unauthorized' });
  }
  const wrong = new Redis({ url, token: 'wrong', enableTelemetry: false, retry: false });
  await assert.rejects(wrong.ping(), /Unauthorized/);
  // The token may also come as ?_token= (path form).
  const viaQuery = await fetch(`${url}/ping?_token=${encodeURIComponent(token)}`);
  assert.deepEqual(await viaQuery.json(), { result: 'PONG' });
});

Deno.test('bridge: path form GET /<cmd>/<args> and POST body as last argument', async () => {
  const key = k('path');
  const { url, token } = upstashBridge();
  const headers = { authorization: `Bearer ${token}` };
  try {
    let response = await fetch(
      `${url}/set/${encodeURIComponent(key)}/${encodeURIComponent('é 😀')}`,
      {
        headers,
      },
    );
    assert.deepEqual(await response.json(), { result: 'OK' });
    response = await fetch(`${url}/get/${encodeURIComponent(key)}`, { headers });
    assert.deepEqual(await response.json(), { result: 'é 😀' });
    response = await fetch(`${url}/set/${encodeURIComponent(key)}?EX=100`, {
      method: 'POST',
      headers,
      body: '{"json":true}',
    });
    assert.deepEqual(await response.json(), { result: 'OK' });
    assert.deepEqual((await rest('/', ['GET', key])).json, { result: '{"json":true}' });
    const ttl = (await rest('/', ['TTL', key])).json as { result: number };
    assert.ok(ttl.result > 0 && ttl.result <= 100);
  } finally {
    await rest('/', ['DEL', key]);
  }
});

Deno.test('bridge: EVAL, EVALSHA, NOSCRIPT fallback and SCRIPT LOAD', async () => {
  const redis = client();
  const key = k('script');
  const script = `return redis.call('INCRBY', KEYS[1], ARGV[1]) .. '-${run}'`;
  try {
    assert.equal(await redis.eval(script, [key], ['2']), `2-${run}`);
    assert.equal(await redis.evalsha(sha1(script), [key], ['3']), `5-${run}`);
    await assert.rejects(
      redis.evalsha('0'.repeat(40), [], []),
      (error: Error) => error.name === 'UpstashError' && /NOSCRIPT/.test(error.message),
    );
    // createScript: EVALSHA first, EVAL once on NOSCRIPT.
    const fresh = `return ARGV[1] .. '-${crypto.randomUUID()}'`;
    const s = redis.createScript<string>(fresh);
    assert.match(await s.exec([], ['x']), /^x-/);
    assert.match(await s.exec([], ['y']), /^y-/);
    const loaded = `return '${crypto.randomUUID()}'`;
    assert.equal(await redis.scriptLoad(loaded), sha1(loaded));
    assert.deepEqual(await redis.scriptExists(sha1(loaded), '0'.repeat(40)), [1, 0]);
  } finally {
    await cleanup(redis, key);
  }
});

Deno.test('bridge: the allow-key-locking shebang flag works and its SHA maps', async () => {
  const redis = client();
  const key = k('locking');
  const script = `#!lua flags=allow-key-locking
-- ${crypto.randomUUID()}
return redis.call('INCR', KEYS[1])`;
  // Open-source Redis itself rejects the flag: the bridge's rewrite is what makes it work.
  const direct = new IORedis(redisUrl(), { lazyConnect: true });
  await direct.connect();
  try {
    await assert.rejects(direct.eval(script, 1, key), /Unexpected flag|allow-key-locking/);
  } finally {
    direct.disconnect();
  }
  try {
    await assert.rejects(redis.evalsha(sha1(script), [key], []), /NOSCRIPT/);
    assert.equal(await redis.eval(script, [key], []), 1);
    // The client's SHA is of the original text; the bridge maps it to the rewritten one.
    assert.equal(await redis.evalsha(sha1(script), [key], []), 2);
    const loadedScript = script.replace('INCR', 'DECR');
    assert.equal(await redis.scriptLoad(loadedScript), sha1(loadedScript));
    assert.equal(await redis.evalsha(sha1(loadedScript), [key], []), 1);
    assert.deepEqual(await redis.scriptExists(sha1(loadedScript)), [1]);
    // Known flags are kept: a no-writes script still may not write.
    const readOnly = `#!lua flags=no-writes,allow-key-locking
return redis.call('SET', KEYS[1], 'x')`;
    await assert.rejects(redis.eval(readOnly, [key], []), /Write commands are not allowed/);
  } finally {
    await cleanup(redis, key);
  }
});

Deno.test('rewriteScriptFlags keeps known flags and leaves other scripts alone', () => {
  const rewrite = (s: string) => rewriteScriptFlags(Buffer.from(s))?.toString();
  assert.equal(rewrite('#!lua flags=allow-key-locking\nreturn 1'), '#!lua flags=\nreturn 1');
  assert.equal(
    rewrite('#!lua flags=no-writes,allow-key-locking,allow-oom\nreturn 1'),
    '#!lua flags=no-writes,allow-oom\nreturn 1',
  );
  assert.equal(rewrite('#!lua flags=no-writes\nreturn 1'), undefined);
  assert.equal(rewrite('#!lua\nreturn 1'), undefined);
  assert.equal(rewrite('return 1'), undefined);
});

Deno.test('bridge: a small pool serves many concurrent requests', async () => {
  const { token } = upstashBridge();
  const bridge = await startRedisBridge({ redisUrl: redisUrl(), token, poolSize: 2 });
  const redis = new Redis({ url: bridge.url, token, enableTelemetry: false, retry: false });
  const key = k('pool');
  try {
    const results = await Promise.all(Array.from({ length: 50 }, () => redis.incr(key)));
    assert.deepEqual(results.sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1));
    const p = redis.pipeline();
    for (let i = 0; i < 20; i++) p.incr(key);
    assert.deepEqual(await p.exec(), Array.from({ length: 20 }, (_, i) => 51 + i));
  } finally {
    await redis.del(key);
    await bridge.close();
  }
});

Deno.test('startRedisBridge rejects bad options with what it received', async () => {
  await assert.rejects(
    startRedisBridge({ redisUrl: 'redis://127.0.0.1:1', token: 't', poolSize: 0 }),
    /'poolSize' must be an integer >= 1: received 0/,
  );
  await assert.rejects(
    startRedisBridge({ redisUrl: 'http://x', token: 't' }),
    /'redisUrl' must be a redis:\/\/ URL: received "http:\/\/x"/,
  );
  await assert.rejects(startRedisBridge({ redisUrl: 'redis://127.0.0.1:1', token: '' }), /'token'/);
});

Deno.test('startRedisServer: answers on its port, stop() ends it and is idempotent', async () => {
  const server = await startRedisServer();
  const conn = new IORedis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await conn.connect();
    assert.equal(await conn.ping(), 'PONG');
    assert.deepEqual(await conn.config('GET', 'save'), ['save', '']);
    assert.deepEqual(await conn.config('GET', 'appendonly'), ['appendonly', 'no']);
  } finally {
    conn.disconnect();
    await server.stop();
    await server.stop();
  }
  // The process is gone: signalling it fails.
  assert.throws(() => Deno.kill(server.pid, 'SIGCONT'));
});
