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
 * Run: `deno run -A bench/cache_stampede.ts [--quick] [--json=<path>]` (`--json` writes the
 * `stampede` section, bench/lib/section.ts; a full run repeats both cases over 3 rounds, --quick
 * once).
 *
 * @module
 */
import { benchArgs, type BenchMetric, spread, writeSections } from './lib/section.ts';
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
  const started = performance.now();
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
  const elapsedMs = performance.now() - started;
  await settleBackground();
  await cache.close();
  console.log(JSON.stringify({ ...byStatus, elapsedMs: Math.round(elapsedMs) }));
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

/** One round across processes: origin calls and the slowest process's time to all answers. */
async function acrossProcesses(url: string, token: string): Promise<{ calls: number; ms: number }> {
  const prefix = `qf:bench:${crypto.randomUUID()}:`;
  const startAt = Date.now() + 3_000; // time for the four processes to start
  const children = Array.from({ length: PROCESSES }, () =>
    new Deno.Command(Deno.execPath(), {
      args: ['run', '-A', new URL(import.meta.url).pathname, '--child'],
      env: {
        STAMPEDE_URL: url,
        STAMPEDE_TOKEN: token,
        STAMPEDE_PREFIX: prefix,
        STAMPEDE_START_AT: String(startAt),
      },
      stdout: 'piped',
      stderr: 'inherit',
    }).output());
  const outputs = await Promise.all(children);
  let ms = 0;
  outputs.forEach((o, i) => {
    const text = new TextDecoder().decode(o.stdout).trim();
    console.error(`process ${i + 1}: ${text}`);
    if (!o.success) throw new Error(`stampede process ${i + 1} exited with ${o.code}`);
    ms = Math.max(ms, JSON.parse(text.split('\n').pop()!).elapsedMs);
  });
  const store = new UpstashStore({ url, token, timeoutMs: 2_000 });
  const calls = Number(await store.get<number>(`${prefix}origin-calls`));
  await store.del(`${prefix}origin-calls`).catch(() => {});
  return { calls, ms };
}

async function parent(): Promise<void> {
  const { quick, json } = benchArgs();
  const rounds = quick ? 1 : 3;
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
    const single: number[] = [];
    const multi: { calls: number; ms: number }[] = [];
    for (let round = 0; round < rounds; round++) {
      single.push(await oneIsolate());
      console.log(
        `one isolate, 1000 concurrent requests, cold key: ${single.at(-1)} origin call(s)`,
      );
      multi.push(await acrossProcesses(url!, token!));
      console.log(
        `${PROCESSES} processes x ${PER_PROCESS} concurrent requests, one cold key, shared Redis: ` +
          `${multi.at(-1)!.calls} origin call(s), all answered in ${multi.at(-1)!.ms} ms`,
      );
    }
    const metrics: BenchMetric[] = [
      {
        name: 'origin calls',
        variant: '1 isolate, 1,000 concurrent',
        ...spread(single),
        unit: 'count',
      },
      {
        name: 'origin calls',
        variant: `${PROCESSES} processes x ${PER_PROCESS} concurrent, shared Redis`,
        ...spread(multi.map((m) => m.calls)),
        unit: 'count',
      },
      {
        name: 'time to answer all (slowest process)',
        variant: `${PROCESSES} processes x ${PER_PROCESS} concurrent, shared Redis`,
        ...spread(multi.map((m) => m.ms)),
        unit: 'ms',
      },
    ];
    const worstSingle = Math.max(...single);
    const worstMulti = Math.max(...multi.map((m) => m.calls));
    await writeSections(json, {
      id: 'stampede',
      title: 'Stampede: one cold key under concurrent requests',
      command: `DENO_NO_PACKAGE_JSON=1 ./node_modules/.bin/deno run -A bench/cache_stampede.ts${
        quick ? ' --quick' : ''
      }`,
      compared: `1,000 concurrent requests for one cold key in one isolate (memory store), and ` +
        `${PROCESSES} processes x ${PER_PROCESS} concurrent requests started at the same instant ` +
        `sharing real Redis through the Upstash REST bridge; the origin takes ${ORIGIN_MS} ms and ` +
        `counts its calls in Redis.`,
      rounds,
      metrics,
      claims: [
        {
          claim: 'Singleflight in one isolate: 1 origin call per cold key',
          measured: `${worstSingle} origin call(s) at worst over ${rounds} round(s)`,
          verdict: worstSingle <= 1 ? 'met' : 'missed',
        },
        {
          claim: 'Across isolates sharing Redis (lease): at most 2 origin calls per cold key',
          measured: `${worstMulti} origin call(s) at worst over ${rounds} round(s)`,
          verdict: worstMulti <= 2 ? (worstMulti <= 1 ? 'beaten' : 'met') : 'missed',
        },
      ],
    });
  } finally {
    await stop();
  }
}

if (Deno.args.includes('--child')) await child();
else await parent();
