/**
 * The manager's rules on synthetic metric windows: each recommendation appears, with the
 * evidence that triggered it, when its condition holds, and does not appear without it.
 */
import assert from 'node:assert/strict';
import { Metrics } from '../../shared/optimizer/metrics.ts';
import {
  DEFAULT_ALERTS,
  DEFAULT_THRESHOLDS,
  detectDegradations,
  emptySettings,
  evaluateRules,
  type Observation,
  observationOf,
  parseManagerOptions,
  projectedHitRate,
  type Recommendation,
  recordCacheAccess,
  type RuleContext,
} from '../../shared/optimizer/manager/mod.ts';
import { parseOptimizationConfig } from '../../shared/optimizer/config.ts';

const NOW = 1_700_000_000_000 - (1_700_000_000_000 % 60_000) + 30_000;
const config = parseOptimizationConfig();
const options = parseManagerOptions(config);

function observation(current: (m: Metrics) => void, previous?: (m: Metrics) => void): Observation {
  const cur = new Metrics();
  current(cur);
  const buckets = [{ start: NOW - (NOW % 60_000), snapshot: cur.snapshot() }];
  if (previous) {
    const prev = new Metrics();
    previous(prev);
    const at = NOW - 20 * 60_000;
    buckets.unshift({ start: at - (at % 60_000), snapshot: prev.snapshot() });
  }
  return observationOf(buckets, NOW);
}

function context(overrides: Partial<RuleContext> = {}): RuleContext {
  return {
    thresholds: options.thresholds,
    bounds: options.bounds,
    settings: emptySettings(),
    baseTtlMs: config.predictiveCacheTTL,
    baseThrottleLimit: config.resilience.throttleLimit,
    basePoolSize: config.resilience.poolMaxConcurrent,
    resources: ['robots_db'],
    indexAdvice: [],
    openBreakers: [],
    ...overrides,
  };
}

/** `requests` cached calls on `prefix`, a share `hitRate` of them hits, misses taking originMs. */
function cacheLoad(m: Metrics, prefix: string, requests: number, hitRate: number, originMs = 40) {
  for (let i = 0; i < requests; i++) {
    const hit = i < Math.round(requests * hitRate);
    recordCacheAccess(m, `${prefix}:k${i % 10}`, hit, hit ? 0 : originMs);
    m.increment('optimizer.operations');
    m.observe('optimizer.operation.ms', hit ? 0.5 : originMs);
    if (hit) m.increment('cache.hit.memory');
    else {
      m.increment('cache.origin.calls');
      m.observe('optimizer.origin.ms', originMs);
    }
  }
}

const find = (recs: Recommendation[], id: string) => recs.find((r) => r.id === id);

Deno.test('rules: a hot prefix that misses gets a longer TTL, with its evidence and gain basis', () => {
  const recs = evaluateRules(
    observation((m) => cacheLoad(m, 'pub:robots:list', 100, 0.5)),
    context(),
  );
  const rec = find(recs, 'cache-ttl:pub:robots:list');
  assert.ok(rec, JSON.stringify(recs.map((r) => r.id)));
  assert.deepEqual(
    rec.evidence.map((e) => [e.metric, e.value, e.comparison, e.threshold]),
    [
      ['cache.prefix.share:pub:robots:list', 1, '>=', 0.2],
      ['cache.prefix.hit_rate:pub:robots:list', 0.5, '<', 0.9],
      ['cache.prefix.requests:pub:robots:list', 100, '>=', 20],
    ],
  );
  const [change] = rec.changes;
  assert.equal(change.setting, 'ttlByPrefix.pub:robots:list');
  assert.equal(change.from, 300_000);
  assert.equal(change.to, 600_000);
  // 50 misses x (h' - h) x 40 ms over the measured operation time.
  const expected = (100 * (projectedHitRate(0.5, 2) - 0.5) * 40) / (50 * 0.5 + 50 * 40);
  assert.equal(change.estimatedGainPercent, Math.round(expected * 10_000) / 100);
  assert.match(change.gainBasis, /projected hit-rate gain/);
});

Deno.test('rules: no TTL change without the condition (hits enough, too few requests, at the bound)', () => {
  assert.equal(
    find(
      evaluateRules(observation((m) => cacheLoad(m, 'pub:a', 100, 0.95)), context()),
      'cache-ttl:pub:a',
    ),
    undefined,
  );
  assert.equal(
    find(
      evaluateRules(observation((m) => cacheLoad(m, 'pub:a', 10, 0.5)), context()),
      'cache-ttl:pub:a',
    ),
    undefined,
  );
  const atMax = context({
    settings: { ...emptySettings(), ttlByPrefix: { 'pub:a': options.bounds.ttlMs[1] } },
  });
  assert.equal(
    find(
      evaluateRules(observation((m) => cacheLoad(m, 'pub:a', 100, 0.5)), atMax),
      'cache-ttl:pub:a',
    ),
    undefined,
  );
});

Deno.test('rules: low hit rate + slow queries -> caching plus indexing (and not without slow queries)', () => {
  const advice = [{ sql: 'create index on public.robots (strategy_type)' }];
  const slow = evaluateRules(
    observation((m) => cacheLoad(m, 'pub:robots:list', 100, 0.3, 400)),
    context({ indexAdvice: advice }),
  );
  const rec = find(slow, 'cache-and-index');
  assert.ok(rec);
  assert.equal(rec.kind, 'correlation');
  assert.deepEqual(rec.evidence.map((e) => e.metric), [
    'cache.hit_rate',
    'optimizer.origin.p95_ms',
  ]);
  assert.equal(rec.evidence[0].value, 0.3);
  assert.ok(rec.evidence[1].value > 200);
  assert.deepEqual(rec.indexStatements, [advice[0].sql]);
  assert.ok(rec.changes.some((c) => c.setting === 'ttlByPrefix.pub:robots:list'));
  assert.ok(find(slow, 'query-indexes'), 'the single-area index advice too');

  const fast = evaluateRules(
    observation((m) => cacheLoad(m, 'pub:robots:list', 100, 0.3, 20)),
    context({ indexAdvice: advice }),
  );
  assert.equal(find(fast, 'cache-and-index'), undefined);
  assert.equal(find(fast, 'query-indexes'), undefined);
});

Deno.test('rules: cold starts + slow database -> pooling plus pre-warming (and not without cold starts)', () => {
  const load = (cold: number) => (m: Metrics) => {
    cacheLoad(m, 'pub:robots:list', 60, 0.5, 400);
    for (let i = 0; i < 20; i++) {
      m.increment('edge.requests');
      m.observe('edge.request.ms', i < cold ? 900 : 30);
      if (i < cold) {
        m.increment('edge.cold_starts');
        m.observe('edge.request.cold.ms', 900);
      }
    }
  };
  const rec = find(evaluateRules(observation(load(5)), context()), 'pooling-and-prewarm');
  assert.ok(rec);
  assert.deepEqual(rec.evidence.map((e) => [e.metric, e.value]), [
    ['edge.cold_start_rate', 0.25],
    ['optimizer.origin.p95_ms', rec.evidence[1].value],
  ]);
  const settings = rec.changes.map((c) => c.setting);
  assert.ok(settings.includes('poolSizes.robots_db'), settings.join());
  assert.ok(settings.includes('warmingIntervalMs'), settings.join());
  assert.ok(settings.includes('prewarmKeys'), settings.join());
  const warming = rec.changes.find((c) => c.setting === 'warmingIntervalMs')!;
  assert.equal(warming.from, 300_000);
  assert.equal(warming.to, 150_000);
  assert.ok(warming.estimatedGainPercent > 0);

  const warm = evaluateRules(observation(load(0)), context());
  assert.equal(find(warm, 'pooling-and-prewarm'), undefined);
  assert.equal(find(warm, 'warming-interval'), undefined);
  assert.ok(find(warm, 'warming-interval-cost'), 'all warm: warm less often');
});

Deno.test('rules: errors across systems -> circuit breakers (and not for one system alone)', () => {
  const load = (edgeErrors: number) => (m: Metrics) => {
    for (let i = 0; i < 100; i++) {
      m.increment('optimizer.operations');
      if (i < 10) m.increment('optimizer.errors');
    }
    for (let i = 0; i < 50; i++) {
      m.increment('edge.requests');
      if (i < edgeErrors) m.increment('edge.errors');
    }
  };
  const rec = find(
    evaluateRules(observation(load(10)), context({ openBreakers: ['robots_db'] })),
    'circuit-breakers',
  );
  assert.ok(rec);
  assert.deepEqual(rec.evidence.map((e) => [e.metric, e.value, e.threshold]), [
    ['optimizer.error_rate', 0.1, 0.05],
    ['edge.error_rate', 0.2, 0.05],
  ]);
  assert.match(rec.action, /robots_db/);
  assert.equal(rec.changes[0].setting, 'throttleLimits.robots_db');
  assert.ok((rec.changes[0].to as number) < (rec.changes[0].from as number));
  assert.equal(find(evaluateRules(observation(load(0)), context()), 'circuit-breakers'), undefined);
});

Deno.test('rules: pool, throttle and retry tuning appear only on their evidence', () => {
  const pool = evaluateRules(
    observation((m) => m.increment('pool.rejected.queue-full', 3)),
    context(),
  );
  assert.equal(find(pool, 'pool-size')?.changes[0].to, 15);
  assert.equal(find(evaluateRules(observation(() => {}), context()), 'pool-size'), undefined);

  const throttled = (errors: number) => (m: Metrics) => {
    cacheLoad(m, 'pub:x', 100, 0.9, 20);
    m.increment('throttle.calls', 100);
    m.increment('throttle.rejected', 20);
    m.increment('optimizer.errors', errors);
  };
  const raise = find(evaluateRules(observation(throttled(0)), context()), 'throttle-limit');
  assert.ok(raise);
  const base = config.resilience.throttleLimit;
  assert.equal(raise.changes[0].from, base);
  assert.equal(raise.changes[0].to, base * 1.5);
  assert.equal(
    find(evaluateRules(observation(throttled(20)), context()), 'throttle-limit'),
    undefined,
  );

  const retries = (exhausted: number) => (m: Metrics) => {
    m.increment('retry.retried', 10);
    m.increment('retry.exhausted', exhausted);
  };
  assert.ok(find(evaluateRules(observation(retries(8)), context()), 'retry-tuning'));
  assert.equal(find(evaluateRules(observation(retries(2)), context()), 'retry-tuning'), undefined);
});

Deno.test('rules: the pre-warm list holds the most requested public keys, never user keys', () => {
  const recs = evaluateRules(
    observation((m) => {
      for (let i = 0; i < 8; i++) recordCacheAccess(m, 'pub:robots:list:hot', true, 0);
      for (let i = 0; i < 8; i++) recordCacheAccess(m, 'u=42:robots:list:mine', true, 0);
      recordCacheAccess(m, 'pub:robots:list:cold', false, 5);
    }),
    context(),
  );
  const rec = find(recs, 'prewarm-list');
  assert.ok(rec);
  assert.deepEqual(rec.changes[0].to, ['pub:robots:list:hot']);
  assert.deepEqual(rec.evidence.map((e) => [e.metric, e.value]), [
    ['cache.key.requests:pub:robots:list:hot', 8],
  ]);
});

Deno.test('alerts: degradations against the previous window, none when stable', () => {
  const window = (p95: number, errors: number, hits: number) => (m: Metrics) => {
    for (let i = 0; i < 100; i++) {
      m.increment('optimizer.operations');
      m.observe('optimizer.operation.ms', p95);
      if (i < errors) m.increment('optimizer.errors');
      recordCacheAccess(m, 'pub:a:b', i < hits, 0);
    }
  };
  const degraded = detectDegradations(
    observation(window(400, 20, 40), window(40, 0, 90)),
    DEFAULT_ALERTS,
    DEFAULT_THRESHOLDS,
  );
  assert.deepEqual(degraded.map((d) => d.metric).sort(), [
    'cache.hit_rate',
    'optimizer.error_rate',
    'optimizer.operation.p95_ms',
  ]);
  const hit = degraded.find((d) => d.metric === 'cache.hit_rate')!;
  assert.equal(hit.previousValue, 0.9);
  assert.equal(hit.currentValue, 0.4);
  assert.equal(hit.severity, 'critical');
  assert.deepEqual(
    detectDegradations(
      observation(window(40, 0, 90), window(40, 0, 90)),
      DEFAULT_ALERTS,
      DEFAULT_THRESHOLDS,
    ),
    [],
  );
});

Deno.test('manager options: bounds from the configuration, errors that say what was received', () => {
  assert.deepEqual(options.bounds.ttlMs, [75_000, 1_200_000]);
  assert.deepEqual(options.bounds.warmingIntervalMs, [60_000, 900_000]);
  assert.throws(
    () => parseManagerOptions(config, { thresholds: { lowHitRate: -1 } }),
    /'thresholds.lowHitRate' must be a finite number >= 0: received -1/,
  );
  assert.throws(
    () => parseManagerOptions(config, { bounds: { poolSize: [5, 1] } }),
    /'bounds.poolSize' must be \[min, max\].*received \[5,1\]/,
  );
});
