/**
 * Stampede benchmark.
 *
 * 1. One isolate: 1,000 concurrent requests for one cold key -> origin calls (expected 1).
 * 2. Four processes sharing a real Redis through the Upstash REST bridge, 250 concurrent
 *    requests each for one cold key, started at the same instant -> origin calls (at most 2).
 *
 * Uses `UPSTASH_REDIS_REST_URL`/`_TOKEN` (or `TEST_UPSTASH_URL`/`_TOKEN`) when set; otherwise
 * starts a redis-server and the bridge itself and stops them at the end.
 *
 * Run: `deno run -A bench/cache_stampede.ts`
 *
 * @module
 */
import { MemoryStore } from '../shared/store/memory.ts';
import { UpstashStore } from '../shared/store/upstash.ts';
import { Metrics } from '../shared/optimizer/metrics.ts';
import { parseOptimizationConfig } from '../shared/optimizer/config.ts';
import { PredictiveCache } from '../shared/optimizer/cache/mod.ts';
import { settleBackground } from '../shared/runtime/background.ts';

const ORIGIN_MS = 200;
const PROCESSES = 4;
const PER_PROCESS = 250;

function config(keyPrefix: string) {
  return parseOptimizationConfig({
    cache: { keyPrefix, storeTimeoutMs: 2_000, leaseWaitMs: 3_000, leasePollMs: 20 },
  });
}

async function child(): Promise<void> {
  const url = Deno.env.get('STAMPEDE_URL')!;
  const token = Deno.env.get('STAMPEDE_TOKEN')!;
  const prefix = Deno.env.get('STAMPEDE_PREFIX')!;
  const startAt = Number(Deno.env.get('STAMPEDE_START_AT'));
  const store = new UpstashStore({ url, token, timeoutMs: 2_000 });
  const cache = new PredictiveCache({ store, metrics: new Metrics(), config: config(prefix) });
  await store.ping(); // warm the HTTP connection before the start line
  await new Promise((r) => setTimeout(r, Math.max(0, startAt - Date.now())));
  const operation = async () => {
    await store.incrby(`${prefix}origin-calls`, 1);
    await new Promise((r) => setTimeout(r, ORIGIN_MS));
    return { robots: [1, 2, 3] };
  };
  const results = await Promise.all(
    Array.from({ length: PER_PROCESS }, () => cache.execute('robots:list', operation)),
  );
  const byStatus: Record<string, number> = {};
  for (const r of results) {
    const k = `${r.status}/${r.tier}/${r.reason}`;
    byStatus[k] = (byStatus[k] ?? 0) + 1;
  }
  await settleBackground();
  await cache.close();
  console.log(JSON.stringify(byStatus));
}

async function oneIsolate(): Promise<number> {
  const cache = new PredictiveCache({
    store: new MemoryStore(),
    metrics: new Metrics(),
    config: config('qf:bench:'),
  });
  let calls = 0;
  const operation = async () => {
    calls++;
    await new Promise((r) => setTimeout(r, ORIGIN_MS));
    return 'v';
  };
  await Promise.all(Array.from({ length: 1000 }, () => cache.execute('cold', operation)));
  await settleBackground();
  await cache.close();
  return calls;
}

async function parent(): Promise<void> {
  console.log(
    `one isolate, 1000 concurrent requests, cold key: ${await oneIsolate()} origin call(s)`,
  );
  let url = Deno.env.get('UPSTASH_REDIS_REST_URL') ?? Deno.env.get('TEST_UPSTASH_URL');
  let token = Deno.env.get('UPSTASH_REDIS_REST_TOKEN') ?? Deno.env.get('TEST_UPSTASH_TOKEN');
  let stop = async () => {};
  if (!url || !token) {
    const { startRedisServer } = await import('../scripts/services/redis.ts');
    const { startRedisBridge } = await import('../scripts/redis-bridge.ts');
    const redis = await startRedisServer();
    const bridge = await startRedisBridge({ redisUrl: redis.url, token: 'bench-token' });
    url = bridge.url;
    token = bridge.token;
    stop = async () => {
      await bridge.close();
      await redis.stop();
    };
  }
  try {
    const prefix = `qf:bench:${crypto.randomUUID()}:`;
    const startAt = Date.now() + 3_000; // time for the four processes to start
    const children = Array.from({ length: PROCESSES }, () =>
      new Deno.Command(Deno.execPath(), {
        args: ['run', '-A', new URL(import.meta.url).pathname, '--child'],
        env: {
          STAMPEDE_URL: url!,
          STAMPEDE_TOKEN: token!,
          STAMPEDE_PREFIX: prefix,
          STAMPEDE_START_AT: String(startAt),
        },
        stdout: 'piped',
        stderr: 'inherit',
      }).output());
    const outputs = await Promise.all(children);
    outputs.forEach((o, i) =>
      console.log(`process ${i + 1}: ${new TextDecoder().decode(o.stdout).trim()}`)
    );
    const store = new UpstashStore({ url: url!, token: token!, timeoutMs: 2_000 });
    const calls = await store.get<number>(`${prefix}origin-calls`);
    console.log(
      `${PROCESSES} processes x ${PER_PROCESS} concurrent requests, one cold key, shared Redis: ${calls} origin call(s)`,
    );
  } finally {
    await stop();
  }
}

if (Deno.args.includes('--child')) await child();
else await parent();
