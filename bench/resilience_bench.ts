/**
 * Hot paths of the resilience layer (memory store, healthy resource):
 * `deno bench -A bench/resilience_bench.ts`
 */
import { Metrics } from '../shared/optimizer/metrics.ts';
import {
  AdaptiveThrottle,
  Bulkhead,
  CircuitBreakerRegistry,
  Deduplicator,
  RetryPolicy,
} from '../shared/optimizer/resilience/mod.ts';
import { MemoryStore } from '../shared/store/memory.ts';

const metrics = new Metrics();
const store = new MemoryStore();
const resilience = { throttleLimit: 1_000_000_000, throttleMaxConcurrent: 1_000_000 };
const retry = new RetryPolicy({ maxRetryAttempts: 3, retryBackoffBase: 100, resilience }, {
  metrics,
});
// breakerStateCacheMs is the default (1 s): the shared read happens about once per second.
const breakers = new CircuitBreakerRegistry({ resilience }, { store, metrics });
const throttle = new AdaptiveThrottle({ resilience }, { store, metrics });
const bulkhead = new Bulkhead('db', { resilience: { poolMaxConcurrent: 10 } }, { metrics });
const dedup = new Deduplicator({ metrics });
const value = { id: 1 };
const resolved = () => Promise.resolve(value);

Deno.bench('baseline: await a resolved op', { group: 'resilience', baseline: true }, async () => {
  await resolved();
});

Deno.bench('retry wrapper around a resolved op', { group: 'resilience' }, async () => {
  await retry.execute(resolved, { resourceKey: 'db' });
});

Deno.bench('breaker closed path', { group: 'resilience' }, async () => {
  await breakers.execute('db', resolved);
});

Deno.bench('throttle allow path (memory window)', { group: 'resilience' }, async () => {
  await throttle.execute('db', resolved);
});

Deno.bench('throttle acquire+release only (sync)', { group: 'resilience' }, () => {
  const permit = throttle.acquire('db2');
  throttle.release(permit as never, 1, false);
});

Deno.bench('bulkhead tryAcquire+release (sync)', { group: 'resilience' }, () => {
  bulkhead.tryAcquire();
  bulkhead.release();
});

Deno.bench('bulkhead run around a resolved op', { group: 'resilience' }, async () => {
  await bulkhead.run(resolved);
});

Deno.bench('dedup run (no concurrent twin)', { group: 'resilience' }, async () => {
  await dedup.run('k', resolved);
});

Deno.bench('throttle > breaker > bulkhead > retry, composed', { group: 'resilience' }, async () => {
  await throttle.execute(
    'db',
    () =>
      breakers.execute(
        'db',
        () => bulkhead.run(() => retry.execute(resolved, { resourceKey: 'db' })),
      ),
  );
});

// ---------------------------------------------------------------------------------------------
// Ours vs cockatiel (issue 15), composed the same way, outermost first: retry > breaker >
// bulkhead > operation (cockatiel: `wrap(retry, circuitBreaker, bulkhead)`). Same settings on
// both sides: 3 attempts (2 retries), exponential backoff from 1 ms without jitter, 10 slots and
// a queue of 100, and the same error classification (ours: classifyError; cockatiel:
// handleWhen(classifyError(e).transient)). bench/resilience_overhead.ts runs the `compose:`
// benches with `--json` and writes the section (ratio ours / cockatiel).
//   success:  the operation resolves;
//   failing:  every attempt throws a transient error (3 attempts, 1 + 2 ms of backoff: timer-
//             bound, so the ratio says how much the wrappers add to a failing call's wall time);
//   permanent: the operation throws a permanent error (no retry), the breaker records it;
//   open:     the breaker is open: the call is refused at once.
// Breakers here never open by themselves (thresholds out of reach, a success every 10,000
// failing calls), except the `open` group's, opened on purpose with a long open period.
// ---------------------------------------------------------------------------------------------
import {
  bulkhead as cockatielBulkhead,
  circuitBreaker as cockatielBreaker,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleWhen,
  noJitterGenerator,
  retry as cockatielRetry,
  wrap,
} from 'cockatiel';
import { classifyError } from '../shared/optimizer/resilience/mod.ts';

const QUICK = Deno.env.get('QF_BENCH_QUICK') === '1';
/** Fixed iteration counts, so the section keeps to its budget (30 s full, 15 s quick). */
const fast = QUICK ? { n: 5_000, warmup: 500 } : { n: 20_000, warmup: 2_000 };
const slow = QUICK ? { n: 20, warmup: 3 } : { n: 100, warmup: 10 };

const transient = () => Object.assign(new Error('connection reset'), { code: 'ECONNRESET' });
const permanent = () => Object.assign(new Error('invalid input'), { code: '22P02' });
const isTransient = (error: unknown) => classifyError(error).transient;

const neverOpen = {
  breakerConsecutiveFailures: 1_000_000,
  breakerMinimumCalls: 1_000_000,
  breakerWindowMs: 100,
  retryJitterRatio: 0,
  retryBudgetRatio: 1,
  retryBudgetMinPerSecond: 1_000_000,
  retryDeadlineMs: 60_000,
  poolMaxConcurrent: 10,
  poolMaxQueue: 100,
};

function ours(resilience: Record<string, number>) {
  const m = new Metrics();
  const r = new RetryPolicy({ maxRetryAttempts: 3, retryBackoffBase: 1, resilience }, {
    metrics: m,
  });
  const b = new CircuitBreakerRegistry({ resilience }, { store: new MemoryStore(), metrics: m });
  const h = new Bulkhead('db', { resilience }, { metrics: m });
  return <T>(op: () => Promise<T>) =>
    r.execute(() => b.execute('db', () => h.run(op)), { resourceKey: 'db' });
}

function theirs(consecutiveFailures: number, halfOpenAfterMs: number) {
  const policy = wrap(
    cockatielRetry(handleWhen(isTransient), {
      maxAttempts: 2,
      backoff: new ExponentialBackoff({
        initialDelay: 1,
        exponent: 2,
        maxDelay: 5_000,
        generator: noJitterGenerator,
      }),
    }),
    cockatielBreaker(handleWhen(isTransient), {
      halfOpenAfter: halfOpenAfterMs,
      breaker: new ConsecutiveBreaker(consecutiveFailures),
    }),
    cockatielBulkhead(10, 100),
  );
  return <T>(op: () => Promise<T>) => policy.execute(op);
}

const oursComposed = ours(neverOpen);
const theirsComposed = theirs(1_000_000, 1_000);
let failingCalls = 0;
/** Runs a failing call; every 10,000th call a success keeps consecutive-failure counts low. */
async function failing(run: <T>(op: () => Promise<T>) => Promise<T>, error: () => Error) {
  if (++failingCalls % 10_000 === 0) await run(resolved);
  try {
    await run(() => Promise.reject(error()));
  } catch {
    // expected
  }
}

Deno.bench('compose: success, bare op', {
  group: 'compose-success',
  baseline: true,
  ...fast,
}, async () => {
  await resolved();
});
Deno.bench('compose: success, ours', { group: 'compose-success', ...fast }, async () => {
  await oursComposed(resolved);
});
Deno.bench('compose: success, cockatiel', { group: 'compose-success', ...fast }, async () => {
  await theirsComposed(resolved);
});

Deno.bench('compose: permanent, bare op', {
  group: 'compose-permanent',
  baseline: true,
  ...fast,
}, async () => {
  try {
    await Promise.reject(permanent());
  } catch {
    // expected
  }
});
Deno.bench('compose: permanent, ours', { group: 'compose-permanent', ...fast }, async () => {
  await failing(oursComposed, permanent);
});
Deno.bench('compose: permanent, cockatiel', { group: 'compose-permanent', ...fast }, async () => {
  await failing(theirsComposed, permanent);
});

Deno.bench('compose: failing, ours', { group: 'compose-failing', ...slow }, async () => {
  await failing(oursComposed, transient);
});
Deno.bench('compose: failing, cockatiel', { group: 'compose-failing', ...slow }, async () => {
  await failing(theirsComposed, transient);
});

// Open breakers: ours opens after 1 consecutive failure, cockatiel's too; both stay open 1 h.
const oursOpen = ours({ ...neverOpen, breakerConsecutiveFailures: 1, breakerOpenMs: 3_600_000 });
const theirsOpen = theirs(1, 3_600_000);
await oursOpen(() => Promise.reject(permanent())).catch(() => {});
await oursOpen(() => Promise.reject(transient())).catch(() => {});
await theirsOpen(() => Promise.reject(transient())).catch(() => {});
const refused = async (run: <T>(op: () => Promise<T>) => Promise<T>) => {
  try {
    await run(resolved);
  } catch {
    return;
  }
  throw new Error('the breaker was expected to be open');
};
Deno.bench('compose: open breaker, ours', { group: 'compose-open', ...fast }, async () => {
  await refused(oursOpen);
});
Deno.bench('compose: open breaker, cockatiel', { group: 'compose-open', ...fast }, async () => {
  await refused(theirsOpen);
});
