/**
 * The hit lane (`shared/http/hit_lane.ts`, issue 11): a repeated cached read is answered before
 * Hono's chain, and the answer is the one the full path gives: same status, body and headers,
 * the same caller admitted (an expired or tampered token, another user, an over-limit caller
 * all take the full path and get its answer), nothing served after an invalidation. The robots
 * app on an embedded PGlite database and a memory-store optimizer; `http.hit_lane` counts the
 * lane's answers.
 */
import assert from 'node:assert/strict';
import { createEmbeddedDatabase } from '../../scripts/pglite.ts';
import type { Database } from '../../shared/db/mod.ts';
import { signLocalJwt, TokenVerifier } from '../../shared/http/auth.ts';
import { HitLane } from '../../shared/http/hit_lane.ts';
import { callerRateLimit } from '../../shared/http/rate_limit.ts';
import { AdvancedBackendOptimizer, Metrics } from '../../shared/optimizer/mod.ts';
import { MemoryStore } from '../../shared/store/memory.ts';
import { createRobotsApp, type RobotsDependencies } from '../../supabase/functions/robots/app.ts';
import { createStrategiesApp } from '../../supabase/functions/strategies/app.ts';

type App = ReturnType<typeof createRobotsApp>;

interface Fixture {
  db: Database;
  optimizer: AdvancedBackendOptimizer;
  app(deps?: Partial<RobotsDependencies>): App;
  laneHits(): number;
}

async function withLane(body: (f: Fixture) => Promise<void>): Promise<void> {
  const db = await createEmbeddedDatabase({ seed: false });
  const metrics = new Metrics();
  const optimizer = new AdvancedBackendOptimizer({
    store: new MemoryStore(),
    metrics,
    metricsFlushIntervalMs: 0,
  });
  try {
    await body({
      db,
      optimizer,
      app: (deps = {}) => createRobotsApp({ db: () => Promise.resolve(db), optimizer, ...deps }),
      laneHits: () => metrics.counter('http.hit_lane'),
    });
  } finally {
    await optimizer.close();
    await db.close();
  }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function get(
  app: { request: App['request'] },
  path: string,
  headers: Record<string, string> = {},
) {
  const response = await app.request(path, { headers });
  return { response, text: await response.text() };
}

async function createRobot(app: App, token: string, input: Record<string, unknown>) {
  const response = await app.request('/robots', {
    method: 'POST',
    headers: { ...bearer(token), 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Falcon', strategy_type: 'breakout', ...input }),
  });
  assert.equal(response.status, 201, await response.clone().text());
  return await response.json() as { id: string };
}

/** Per request or per app (each app has its own limiter): compared by name only. */
const VARYING = ['x-request-id', 'server-timing', 'ratelimit-remaining', 'ratelimit-reset'];

/** Header names and values, the varying ones' values left out. */
function stableHeaders(response: Response): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of response.headers) out[name] = VARYING.includes(name) ? '' : value;
  return out;
}

Deno.test("hit lane: a repeated read is answered by the lane with the full path's status, body and headers", async () => {
  await withLane(async ({ app, laneHits, optimizer }) => {
    const withLane = app();
    const withoutLane = app({ hitLane: false });
    const first = await get(withLane, '/robots/public?limit=5');
    assert.equal(first.response.status, 200);
    assert.equal(laneHits(), 0);
    // The full path's memory hit, then the lane's.
    const full = await get(withoutLane, '/robots/public?limit=5');
    const lane = await get(withLane, '/robots/public?limit=5', { 'x-request-id': 'trace-1' });
    assert.equal(laneHits(), 1, "the second read of the lane app is the lane's");
    assert.equal(full.response.headers.get('x-cache'), 'hit; tier=memory; reason=fresh');
    assert.equal(lane.response.status, full.response.status);
    assert.equal(lane.text, full.text);
    assert.deepEqual(stableHeaders(lane.response), stableHeaders(full.response));
    assert.equal(lane.response.headers.get('x-request-id'), 'trace-1');
    assert.match(
      lane.response.headers.get('server-timing')!,
      /^optimizer;dur=[\d.]+;desc="hit memory",total;dur=[\d.]+;desc="Total Response Time"$/,
    );
    // Counted as the full path counts a memory hit.
    assert.equal(optimizer.metrics.counter('cache.prefix.hits:pub:robots:list'), 2);
    // If-None-Match: 304 from the lane, no body.
    const etag = lane.response.headers.get('etag')!;
    const revalidated = await withLane.request('/robots/public?limit=5', {
      headers: { 'if-none-match': etag },
    });
    assert.equal(revalidated.status, 304);
    assert.equal(await revalidated.text(), '');
    assert.equal(revalidated.headers.get('etag'), etag);
    assert.equal(laneHits(), 2);
    // Off: every read takes the full path.
    await get(withoutLane, '/robots/public?limit=5');
    await get(withoutLane, '/robots/public?limit=5');
    assert.equal(laneHits(), 2);
  });
});

Deno.test("hit lane: one user's read never reaches another caller; bad or expired tokens get the full path's 401", async () => {
  await withLane(async ({ app, laneHits }) => {
    let clock = Date.now();
    const verifier = new TokenVerifier({ now: () => clock });
    const robots = app({ auth: { verifier } });
    const alice = crypto.randomUUID();
    const bob = crypto.randomUUID();
    const exp = Math.floor(clock / 1000) + 60;
    const aliceToken = await signLocalJwt({ role: 'authenticated', sub: alice, exp });
    const bobToken = await signLocalJwt({ role: 'authenticated', sub: bob, exp });
    await createRobot(robots, aliceToken, { name: 'Alice private', is_public: false });
    await createRobot(robots, bobToken, { name: 'Bob private', is_public: false });

    const own = async (token: string) => await get(robots, '/robots?limit=5', bearer(token));
    const aliceFirst = await own(aliceToken);
    const aliceAgain = await own(aliceToken);
    assert.equal(laneHits(), 1);
    assert.equal(aliceAgain.text, aliceFirst.text);
    assert.match(aliceAgain.text, /Alice private/);

    // Bob, same path: his own robots, from the full path (his identity has no entry yet).
    const bobRead = await own(bobToken);
    assert.equal(bobRead.response.status, 200);
    assert.match(bobRead.text, /Bob private/);
    assert.doesNotMatch(bobRead.text, /Alice/);
    assert.equal(laneHits(), 1);

    // No token, a tampered one: the full path's 401, never Alice's list.
    const anonymous = await get(robots, '/robots?limit=5');
    assert.equal(anonymous.response.status, 401);
    const [h, p, s] = aliceToken.split('.');
    const tampered = `${h}.${p}.${s.slice(0, -2)}${s.endsWith('A') ? 'B' : 'A'}A`;
    const forged = await get(robots, '/robots?limit=5', bearer(tampered));
    assert.equal(forged.response.status, 401);
    assert.doesNotMatch(forged.text, /Alice/);

    // Alice's token expires: the lane hands over, the full path refuses it.
    clock += 61_000;
    const expired = await own(aliceToken);
    assert.equal(expired.response.status, 401);
    assert.match(expired.text, /invalid_jwt/);
    assert.equal(laneHits(), 1);
  });
});

Deno.test("hit lane: after a write the next read is the new page, not the lane's copy", async () => {
  await withLane(async ({ app, laneHits }) => {
    const robots = app();
    const user = await signLocalJwt({ role: 'authenticated', sub: crypto.randomUUID() });
    await createRobot(robots, user, { name: 'First public', is_public: true });
    await get(robots, '/robots/public?limit=5');
    const cached = await get(robots, '/robots/public?limit=5');
    assert.equal(laneHits(), 1);
    assert.doesNotMatch(cached.text, /Second public/);
    await createRobot(robots, user, { name: 'Second public', is_public: true });
    const after = await get(robots, '/robots/public?limit=5');
    assert.match(after.text, /Second public/);
    assert.equal(laneHits(), 1, 'the read after the invalidation took the full path');
    // The new page is the lane's from its second read.
    const again = await get(robots, '/robots/public?limit=5');
    assert.equal(again.text, after.text);
    assert.equal(laneHits(), 2);
  });
});

Deno.test('hit lane: the per-caller limit counts lane answers once each and answers the 429', async () => {
  await withLane(async ({ app, laneHits }) => {
    const robots = app({
      rateLimit: { env: () => undefined, store: new MemoryStore(), anonLimit: 4 },
    });
    const remaining: string[] = [];
    for (let i = 0; i < 4; i++) {
      const { response } = await get(robots, '/robots/public?limit=5');
      assert.equal(response.status, 200);
      remaining.push(response.headers.get('ratelimit-remaining')!);
    }
    assert.deepEqual(remaining, ['3', '2', '1', '0']);
    assert.equal(laneHits(), 3, "the three reads after the first were the lane's");
    const refused = await get(robots, '/robots/public?limit=5');
    assert.equal(refused.response.status, 429);
    assert.equal(JSON.parse(refused.text).error.code, 'rate_limited');
    assert.ok(Number(refused.response.headers.get('retry-after')) >= 1);
    assert.equal(laneHits(), 3);
  });
});

Deno.test('hit lane: a warm-up ping, another query spelling or a body take the full path', async () => {
  await withLane(async ({ app, laneHits }) => {
    const robots = app();
    await get(robots, '/robots/public?limit=5');
    const ping = await get(robots, '/robots/public?limit=5', { 'x-warmup': '1' });
    assert.equal(ping.response.status, 200);
    assert.match(ping.text, /"function":"robots"/);
    assert.equal(laneHits(), 0);
    // Another spelling of the same query: the full path's answer (same cache key), then its own
    // lane entry.
    const spelled = await get(robots, '/robots/public?limit=05');
    assert.equal(spelled.response.headers.get('x-cache'), 'hit; tier=memory; reason=fresh');
    assert.equal(laneHits(), 0);
    await get(robots, '/robots/public?limit=05');
    assert.equal(laneHits(), 1);
    // A HEAD, and a GET carrying a body length, are never the lane's.
    const head = await robots.request('/robots/public?limit=5', { method: 'HEAD' });
    await head.body?.cancel();
    const withLength = await robots.request('/robots/public?limit=5', {
      headers: { 'content-length': '0' },
    });
    await withLength.body?.cancel();
    assert.equal(laneHits(), 1);
  });
});

Deno.test('hit lane: entries are bounded', async () => {
  const lane = new HitLane({
    resolveCaller: () =>
      Promise.resolve({ role: 'anon', claims: {}, isService: false, authMode: 'none' }),
    rateLimit: callerRateLimit({ enabled: false }),
    maxEntries: 3,
  });
  const served: string[] = [];
  const fetch = lane.wrap((request: Request) => {
    served.push(new URL(request.url).search);
    HitLane.remember(
      request,
      { role: 'anon', claims: {}, isService: false, authMode: 'none' },
      {
        optimizer: { memoryHit: () => undefined, metrics: new Metrics() },
        cacheKey: request.url,
        tags: [],
        value: {},
      },
    );
    return new Response('full');
  });
  for (let i = 0; i < 5; i++) await fetch(new Request(`http://x/r?i=${i}`));
  assert.equal(lane.size, 3);
  assert.deepEqual(served, ['?i=0', '?i=1', '?i=2', '?i=3', '?i=4']);
});

Deno.test('hit lane: strategies reads take it too (listing and search)', async () => {
  await withLane(async ({ db, optimizer, laneHits }) => {
    const strategies = createStrategiesApp({ db: () => Promise.resolve(db), optimizer });
    for (const path of ['/strategies/public?limit=3', '/strategies/search?q=grid']) {
      const first = await get(strategies, path);
      assert.equal(first.response.status, 200, first.text);
      const again = await get(strategies, path);
      assert.equal(again.text, first.text);
    }
    assert.equal(laneHits(), 2);
  });
});

Deno.test('hit lane: a failure inside the lane is answered by the full path', async () => {
  let fail = false;
  const lane = new HitLane({
    resolveCaller: () => {
      if (fail) return Promise.reject(new TypeError('lane bug'));
      return Promise.resolve({ role: 'anon', claims: {}, isService: false, authMode: 'none' });
    },
    rateLimit: callerRateLimit({ enabled: false }),
  });
  const value = {};
  let full = 0;
  const fetch = lane.wrap((request: Request) => {
    full++;
    HitLane.remember(request, { role: 'anon', claims: {}, isService: false, authMode: 'none' }, {
      optimizer: {
        memoryHit: () => {
          throw new Error('optimizer bug');
        },
        metrics: new Metrics(),
      },
      cacheKey: 'k',
      tags: [],
      value,
    });
    return new Response('full');
  });
  await (await fetch(new Request('http://x/r'))).body?.cancel();
  // serializedOf(value) is unknown here, so the lane stops before memoryHit: make it known.
  const { serializeOnce } = await import('../../shared/http/json_response.ts');
  await serializeOnce(value);
  assert.equal(await (await fetch(new Request('http://x/r'))).text(), 'full');
  fail = true;
  assert.equal(await (await fetch(new Request('http://x/r'))).text(), 'full');
  assert.equal(full, 3);
});
