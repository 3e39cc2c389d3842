/**
 * Store requests per API request through `executeOptimizedOperation` (every feature on: cache,
 * throttle, breaker, retry, pool), counted at the Upstash REST endpoint: a counting proxy in
 * front of the bridge sees every HTTP request any client sends (`UpstashStore`,
 * `@upstash/ratelimit`) and the Redis commands in it. Upstash bills per command.
 *
 * Cases (issue 11, target 3): memory-tier hit (0), Redis-tier hit (another isolate; 1), cold
 * miss (<= 2, background write included), cold miss with 2 tags, and staleness re-checks: 50
 * concurrent callers on one hot key in one isolate for several staleness windows (at most one
 * re-check per key per window).
 *
 * Run: `DENO_NO_PACKAGE_JSON=1 node_modules/.bin/deno run -A bench/optimizer_store_commands.ts`
 * (`--quick`: fewer rounds and a shorter re-check run; `--json=<path>`: the `store_requests`
 * section). Uses `UPSTASH_REDIS_REST_URL`/`_TOKEN` (or `TEST_UPSTASH_URL`/`_TOKEN`) when set;
 * otherwise starts a redis-server and the bridge and stops them at the end.
 */
import { AdvancedBackendOptimizer, Metrics } from '../shared/optimizer/mod.ts';
import { UpstashStore } from '../shared/store/upstash.ts';
import { cacheOptionsSchema, memoryRecheckMs } from '../shared/optimizer/cache/options.ts';
import { settleBackground } from '../shared/runtime/background.ts';
import { startCountingBridge } from '../tests/support/counting_bridge.ts';
import {
  benchArgs,
  type BenchClaim,
  type BenchMetric,
  type BenchSection,
  spread,
  writeSections,
} from './lib/section.ts';
import { benchServices } from './lib/bench_services.ts';

const { quick, json } = benchArgs();
const rounds = quick ? 5 : 20;
const recheck = quick
  ? { stalenessMs: 500, durationMs: 3_000, callers: 50 }
  : { stalenessMs: 1_000, durationMs: 10_000, callers: 50 };
// A memory copy is re-checked a little before the staleness bound (cache/options.ts).
const recheckMs = memoryRecheckMs({
  memoryStalenessMs: recheck.stalenessMs,
  invalidationRetryMs: cacheOptionsSchema.parse({}).invalidationRetryMs,
});

const services = await benchServices({ redis: true });
const cleanups: (() => Promise<void>)[] = [() => services.stop()];
const counter = startCountingBridge({
  url: services.redis!.restUrl,
  token: services.redis!.restToken,
});
cleanups.unshift(() => counter.close());

const run = crypto.randomUUID().slice(0, 8);
const resourceKey = `bench_store_${run}`;
const isolates: AdvancedBackendOptimizer[] = [];
function isolate(memoryStalenessMs = 2_000) {
  const optimizer = new AdvancedBackendOptimizer({
    store: new UpstashStore({ url: counter.url, token: counter.token, timeoutMs: 1000 }),
    metrics: new Metrics(),
    metricsFlushIntervalMs: 0,
    config: { cache: { popularityFlushMs: 3_600_000, memoryStalenessMs } },
  });
  isolates.push(optimizer);
  return optimizer;
}

const op = () => Promise.resolve({ data: [{ id: 1, name: 'robot' }], error: null });
const call = (o: AdvancedBackendOptimizer, cacheKey: string, tags?: string[]) =>
  o.executeOptimizedOperation(null, op, { cacheKey, resourceKey, table: 'robots', tags });

/** Store requests and commands of `fn`, its background work (write-back) included. */
async function measure(fn: () => Promise<unknown>) {
  await settleBackground();
  counter.reset();
  await fn();
  await settleBackground();
  return { ...counter.counts, names: [...counter.counts.names] };
}

const samples = new Map<string, { requests: number[]; commands: number[]; names: string }>();
function record(label: string, m: { requests: number; commands: number; names: string[] }) {
  let s = samples.get(label);
  if (!s) samples.set(label, s = { requests: [], commands: [], names: m.names.join(', ') });
  s.requests.push(m.requests);
  s.commands.push(m.commands);
}

let recheckResult = { requests: 0, calls: 0, windows: 0, names: '' };
try {
  const a = isolate();
  const b = isolate();
  // First use on this Redis: EVALSHA answered NOSCRIPT, then EVAL (once per script and Redis).
  const first = await measure(() => call(a, `pub:bench:${run}:first`));
  for (let i = 0; i < rounds; i++) {
    const key = `pub:bench:${run}:list:${i}`;
    record('cold miss', await measure(() => call(a, key)));
    record('memory-tier hit', await measure(() => call(a, key)));
    record('Redis-tier hit (another isolate)', await measure(() => call(b, key)));
    const tagged = `pub:bench:${run}:robot:${i}`;
    const tags = [`pub:bench:${run}:robot:${i}`, `pub:bench:${run}:robots`];
    record('cold miss with 2 tags', await measure(() => call(a, tagged, tags)));
  }
  record('first cold miss on an empty Redis (scripts not loaded)', first);
  // The breaker refreshes its shared state at most once per breakerStateCacheMs (1 s): after a
  // quiet second the next origin call is due for it.
  for (let i = 0; i < (quick ? 2 : 3); i++) {
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const key = `pub:bench:${run}:idle:${i}`;
    record('cold miss, breaker refresh due (after 1.1 s idle)', await measure(() => call(a, key)));
  }

  // Re-checks: 50 callers on one hot key, memory copy checked against Redis every window.
  const c = isolate(recheck.stalenessMs);
  const hot = `pub:bench:${run}:hot`;
  await call(c, hot);
  await settleBackground();
  counter.reset();
  let calls = 0;
  const started = performance.now();
  const deadline = started + recheck.durationMs;
  await Promise.all(
    Array.from({ length: recheck.callers }, async () => {
      while (performance.now() < deadline) {
        await call(c, hot);
        calls++;
        // One request arrives per macrotask per caller, as from a socket.
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    }),
  );
  await settleBackground();
  const elapsed = performance.now() - started;
  recheckResult = {
    requests: counter.counts.requests,
    calls,
    windows: Math.ceil(elapsed / recheckMs),
    names: [...new Set(counter.counts.names)].join(', '),
  };
} finally {
  for (const o of isolates) await o.close();
  for (const cleanup of cleanups) await cleanup();
}

const metrics: BenchMetric[] = [];
const rows: string[] = [];
const median = (label: string, what: 'requests' | 'commands') =>
  spread(samples.get(label)?.[what] ?? []);
for (const [label, s] of samples) {
  const r = spread(s.requests);
  const c = spread(s.commands);
  metrics.push({ name: 'store requests', variant: label, unit: 'count', ...r });
  metrics.push({ name: 'Redis commands', variant: label, unit: 'count', ...c });
  rows.push(`| ${label} | ${r.median} (${r.min}-${r.max}) | ${c.median} | ${s.names || '-'} |`);
}
const perWindow = recheckResult.requests / Math.max(1, recheckResult.windows);
metrics.push(
  {
    name: 're-checks per window',
    variant: `${recheck.callers} callers, one hot key`,
    unit: 'count',
    median: perWindow,
  },
  {
    name: 'store requests',
    variant: `${recheck.callers} callers, one hot key, ${recheckResult.calls} calls`,
    unit: 'count',
    median: recheckResult.requests,
  },
);

const verdict = (ok: boolean): BenchClaim['verdict'] => ok ? 'met' : 'missed';
const memory = median('memory-tier hit', 'requests');
const redisHit = median('Redis-tier hit (another isolate)', 'requests');
const cold = median('cold miss', 'requests');
const coldTags = median('cold miss with 2 tags', 'requests');
const coldIdle = median('cold miss, breaker refresh due (after 1.1 s idle)', 'requests');
const claims: BenchClaim[] = [
  {
    claim: 'memory-tier hit: 0 store requests',
    measured: `${memory.max} requests (every round)`,
    verdict: verdict(memory.max === 0),
  },
  {
    claim: 'Redis-tier hit: 1 store request',
    measured: `${redisHit.median} (max ${redisHit.max})`,
    verdict: verdict(redisHit.max <= 1),
  },
  {
    claim: 'cold miss: <= 2 store requests (one pipelined read, one pipelined write)',
    measured: `${cold.median} (max ${cold.max}); with 2 tags ${coldTags.median} (max ` +
      `${coldTags.max}); breaker refresh due ${coldIdle.median} (max ${coldIdle.max})`,
    verdict: verdict(cold.max <= 2 && coldTags.max <= 2 && coldIdle.max <= 2),
  },
  {
    claim:
      'at most one staleness re-check per key per window per isolate, whatever the concurrency',
    measured: `${recheckResult.requests} re-checks in ${recheckResult.windows} windows of ` +
      `${recheckMs} ms (${perWindow.toFixed(2)} per window), ${recheck.callers} ` +
      `concurrent callers, ${recheckResult.calls} calls`,
    verdict: verdict(recheckResult.requests <= recheckResult.windows),
  },
];

const command =
  `DENO_NO_PACKAGE_JSON=1 node_modules/.bin/deno run -A bench/optimizer_store_commands.ts${
    quick ? ' --quick' : ''
  }`;
console.log(`store requests per call, counted at the REST endpoint (${rounds} rounds)\n`);
console.log('| call | HTTP requests median (min-max) | Redis commands | requests |');
console.log('|---|---|---|---|');
for (const row of rows) console.log(row);
console.log(
  `\nre-checks: ${recheck.callers} callers on one hot key for ${recheck.durationMs} ms, ` +
    `memoryStalenessMs ${recheck.stalenessMs} (re-check every ${recheckMs} ms): ` +
    `${recheckResult.requests} store requests ` +
    `(${recheckResult.names || '-'}) for ${recheckResult.calls} calls in ` +
    `${recheckResult.windows} windows: ${perWindow.toFixed(2)} per window`,
);
console.log('');
for (const c of claims) console.log(`${c.verdict}: ${c.claim} (measured: ${c.measured})`);

const section: BenchSection = {
  id: 'store_requests',
  title: 'Store requests per API request (issue 11, target 3)',
  command,
  compared: `executeOptimizedOperation with every feature on (cache, throttle, breaker, retry, ` +
    `pool) over UpstashStore, two isolates sharing real Redis through the Upstash REST bridge; ` +
    `HTTP requests and commands counted by a proxy in front of the bridge, background work ` +
    `(write-back) included; ${rounds} rounds with fresh keys`,
  rounds,
  metrics,
  claims,
  notes: [
    'The first call on an empty Redis costs one more request per script (EVALSHA answered ' +
    'NOSCRIPT, then EVAL): once per script and Redis, not per request.',
    "The HTTP layer's per-caller rate limit (shared/http/rate_limit.ts, @upstash/ratelimit) is " +
    'not part of this count: through an app it adds its own window per API request.',
  ],
};
await writeSections(json, section);
