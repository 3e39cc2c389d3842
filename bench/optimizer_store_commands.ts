/**
 * Store cost of one API request through `executeOptimizedOperation`, on real Redis through the
 * Upstash REST bridge: HTTP requests and Redis commands per call (Upstash bills per command).
 *
 * Scenarios: a cold miss; a Redis-tier hit (a second isolate that has not seen the key); a
 * memory-tier hit; a memory-tier hit past the staleness bound (re-check).
 *
 * Run: `DENO_NO_PACKAGE_JSON=1 node_modules/.bin/deno run -A bench/optimizer_store_commands.ts`
 */
import { AdvancedBackendOptimizer, Metrics } from '../shared/optimizer/mod.ts';
import { UpstashStore } from '../shared/store/upstash.ts';
import { settleBackground } from '../shared/runtime/background.ts';
import { startRedisServer } from '../scripts/services/redis.ts';
import { startRedisBridge } from '../scripts/redis-bridge.ts';

const redis = await startRedisServer();
const bridge = await startRedisBridge({ redisUrl: redis.url, token: 'bench' });
const counts = { requests: 0, commands: 0, names: [] as string[] };
const realFetch = globalThis.fetch;
globalThis.fetch = (input: RequestInfo | URL, init?: RequestInit) => {
  const url = String(input instanceof Request ? input.url : input);
  if (url.startsWith(bridge.url)) {
    counts.requests++;
    const body = JSON.parse(String(init?.body ?? '[]'));
    const commands: unknown[][] = Array.isArray(body[0]) ? body : [body];
    counts.commands += commands.length;
    counts.names.push(commands.map((c) => String(c[0]).toUpperCase()).join('+'));
  }
  return realFetch(input, init);
};

function isolate() {
  return new AdvancedBackendOptimizer({
    store: new UpstashStore({ url: bridge.url, token: bridge.token, timeoutMs: 1000 }),
    metrics: new Metrics(),
    metricsFlushIntervalMs: 0,
    config: { cache: { popularityFlushMs: 3_600_000, memoryStalenessMs: 50 } },
  });
}

async function measure(label: string, fn: () => Promise<unknown>) {
  await settleBackground();
  counts.requests = 0;
  counts.commands = 0;
  counts.names = [];
  await fn();
  const foreground = { requests: counts.requests, commands: counts.commands, names: counts.names };
  await settleBackground();
  console.log(
    `| ${label} | ${foreground.requests} | ${foreground.commands} | ${
      foreground.names.join(', ') || '-'
    } | ${counts.requests - foreground.requests} |`,
  );
}

const op = () => Promise.resolve({ data: [{ id: 1 }], error: null });
const options = { cacheKey: 'pub:robots:list', resourceKey: 'robots_api', table: 'robots' };
const a = isolate();
const b = isolate();
try {
  console.log(
    '| call | HTTP requests | Redis commands | requests (commands each) | background requests |',
  );
  console.log('|---|---|---|---|---|');
  await measure('cold miss (isolate A)', () => a.executeOptimizedOperation(null, op, options));
  await measure('memory-tier hit (A)', () => a.executeOptimizedOperation(null, op, options));
  await measure('Redis-tier hit (isolate B)', () => b.executeOptimizedOperation(null, op, options));
  await measure(
    'cold miss of another key (A, scripts cached)',
    () => a.executeOptimizedOperation(null, op, { ...options, cacheKey: 'pub:robots:page2' }),
  );
  const tagged = { ...options, cacheKey: 'pub:robot:1', tags: ['pub:robot:1', 'pub:robots'] };
  await measure(
    'cold miss with 2 tags (A)',
    () => a.executeOptimizedOperation(null, op, tagged),
  );
  await measure('invalidate 2 tags (A)', () => a.invalidateTags(['pub:robot:1', 'pub:robots']));
  await new Promise((r) => setTimeout(r, 60));
  await measure(
    'memory hit past the staleness bound (A)',
    () => a.executeOptimizedOperation(null, op, options),
  );
} finally {
  await a.close();
  await b.close();
  globalThis.fetch = realFetch;
  await bridge.close();
  await redis.stop();
}
