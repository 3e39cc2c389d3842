import assert from 'node:assert/strict';
import { fakeClock } from '../support/fake_clock.ts';
import { Metrics } from '../../shared/optimizer/metrics.ts';
import {
  classifyError,
  computeBackoffDelay,
  parseRetryAfter,
  RetryExhaustedError,
  RetryPolicy,
  retrySuccessRate,
} from '../../shared/optimizer/resilience/mod.ts';

const transient = (message = 'upstream 503') => Object.assign(new Error(message), { status: 503 });

Deno.test('retry: delays follow base * 2^(n-1) + jitter, each attempt timed on the fake clock', async () => {
  const { fake, clock } = fakeClock();
  const metrics = new Metrics();
  const randoms = [0, 0.5, 0.999];
  const policy = new RetryPolicy(
    { maxRetryAttempts: 4, retryBackoffBase: 100, resilience: { retryDeadlineMs: 0 } },
    { clock, metrics, random: () => randoms.shift()! },
  );
  const startedAt: number[] = [];
  const run = policy.execute(() => {
    startedAt.push(fake.now);
    if (startedAt.length < 4) return Promise.reject(transient());
    return Promise.resolve('ok');
  });
  await fake.runAllAsync();
  assert.equal(await run, 'ok');
  const gaps = startedAt.slice(1).map((t, i) => t - startedAt[i]);
  // n=1: 100 * (1 + 0); n=2: 200 * (1 + 0.5); n=3: 400 * (1 + 0.999) = 799.6, rounded
  assert.deepEqual(gaps, [100, 300, 800]);
  assert.equal(metrics.counter('retry.retries'), 3);
  assert.equal(metrics.counter('retry.recovered'), 1);
  assert.equal(retrySuccessRate(metrics), 1);
});

Deno.test('retry: jitter stays within [exp, exp * (1 + ratio)] and the cap holds', () => {
  const params = { baseMs: 100, maxDelayMs: 5000, jitterRatio: 1 };
  for (let n = 1; n <= 5; n++) {
    const exp = 100 * 2 ** (n - 1);
    for (const r of [0, 0.25, 0.9999]) {
      const d = computeBackoffDelay(n, params, r);
      assert.ok(d >= exp && d <= exp * 2, `n=${n} r=${r} d=${d}`);
    }
  }
  assert.equal(computeBackoffDelay(10, params, 0.5), 5000);
});

Deno.test('retry: never more than maxRetryAttempts; the error carries every attempt', async () => {
  const { fake, clock } = fakeClock();
  const metrics = new Metrics();
  const policy = new RetryPolicy(
    { maxRetryAttempts: 3, retryBackoffBase: 10 },
    { clock, metrics, random: () => 0 },
  );
  let calls = 0;
  const run = policy.execute(() => Promise.reject(transient(`fail ${++calls}`)), {
    resourceKey: 'api',
  });
  const settled = run.catch((e) => e);
  await fake.runAllAsync();
  const error = await settled;
  assert.ok(error instanceof RetryExhaustedError);
  assert.equal(error.reason, 'attempts-exhausted');
  assert.equal(calls, 3);
  assert.deepEqual(error.attempts.map((a) => (a.error as Error).message), [
    'fail 1',
    'fail 2',
    'fail 3',
  ]);
  assert.deepEqual(error.attempts.map((a) => a.delayMs), [10, 20, 0]);
  assert.equal((error.cause as Error).message, 'fail 3');
  assert.equal(metrics.counter('retry.exhausted'), 1);
  assert.equal(retrySuccessRate(metrics), 0);
});

Deno.test('retry: 4xx, validation errors and non-idempotent operations are tried once', async () => {
  const policy = new RetryPolicy({ maxRetryAttempts: 5, retryBackoffBase: 1 }, {
    metrics: new Metrics(),
  });
  for (
    const error of [
      Object.assign(new Error('not found'), { status: 404 }),
      Object.assign(new Error('unique'), { code: '23505' }),
      new RangeError('bad input'),
      new Response(null, { status: 400 }),
    ]
  ) {
    let calls = 0;
    await assert.rejects(
      policy.execute(() => {
        calls++;
        return Promise.reject(error);
      }),
      (e) => e === error,
    );
    assert.equal(calls, 1);
  }
  let writes = 0;
  const timeout = new DOMException('slow', 'TimeoutError');
  await assert.rejects(
    policy.execute(() => {
      writes++;
      return Promise.reject(timeout);
    }, { idempotent: false }),
    (e) => e === timeout,
  );
  assert.equal(writes, 1);
});

Deno.test('retry: 429 honours Retry-After; too long a Retry-After stops', async () => {
  const { fake, clock } = fakeClock();
  const policy = new RetryPolicy(
    { maxRetryAttempts: 3, retryBackoffBase: 10, resilience: { retryMaxDelayMs: 5000 } },
    { clock, metrics: new Metrics(), random: () => 0 },
  );
  const times: number[] = [];
  const run = policy.execute(() => {
    times.push(fake.now);
    if (times.length === 1) {
      return Promise.reject(new Response(null, { status: 429, headers: { 'retry-after': '2' } }));
    }
    return Promise.resolve(1);
  });
  await fake.runAllAsync();
  assert.equal(await run, 1);
  assert.equal(times[1] - times[0], 2000);

  const tooLong = policy.execute(() =>
    Promise.reject(
      Object.assign(new Error('busy'), { status: 503, headers: { 'Retry-After': '60' } }),
    )
  ).catch((e) => e);
  await fake.runAllAsync();
  const error = await tooLong;
  assert.ok(error instanceof RetryExhaustedError);
  assert.equal(error.reason, 'retry-after-too-long');
});

Deno.test('retry: supabase-js { data, error } results are classified and retried', async () => {
  const { fake, clock } = fakeClock();
  const policy = new RetryPolicy({ maxRetryAttempts: 3, retryBackoffBase: 10 }, {
    clock,
    metrics: new Metrics(),
    random: () => 0,
  });
  const answers = [
    { data: null, error: { code: '40001', message: 'could not serialize' }, status: 500 },
    { data: null, error: { code: '', message: 'TypeError: fetch failed' }, status: 0 },
    { data: [{ id: 1 }], error: null, status: 200 },
  ];
  const run = policy.execute(() => Promise.resolve(answers.shift()!));
  await fake.runAllAsync();
  assert.deepEqual((await run).data, [{ id: 1 }]);

  // A permanent error result is returned as it is, after one attempt.
  const denied = { data: null, error: { code: 'PGRST301', message: 'JWT expired' }, status: 401 };
  let calls = 0;
  const result = await policy.execute(() => {
    calls++;
    return Promise.resolve(denied);
  });
  assert.equal(result, denied);
  assert.equal(calls, 1);
});

Deno.test('retry: the caller signal stops it, each attempt gets a fresh signal', async () => {
  const { fake, clock } = fakeClock();
  const policy = new RetryPolicy({ maxRetryAttempts: 5, retryBackoffBase: 1000 }, {
    clock,
    metrics: new Metrics(),
    random: () => 0,
  });
  const controller = new AbortController();
  const signals: AbortSignal[] = [];
  const run = policy.execute(({ signal }) => {
    signals.push(signal);
    return Promise.reject(transient());
  }, { signal: controller.signal }).catch((e) => e);
  await fake.tickAsync(1500); // attempt 1, sleep 1000, attempt 2, now sleeping 2000
  assert.equal(signals.length, 2);
  assert.notEqual(signals[0], signals[1]);
  controller.abort(new Error('client went away'));
  const error = await run;
  assert.equal(error.message, 'client went away');
  assert.equal(signals.length, 2);

  // Aborting during an attempt aborts that attempt's signal.
  const during = new AbortController();
  let seen: AbortSignal | undefined;
  const pending = policy.execute(({ signal }) => {
    seen = signal;
    return new Promise((_, reject) =>
      signal.addEventListener('abort', () => reject(signal.reason))
    );
  }, { signal: during.signal }).catch((e) => e);
  await fake.tickAsync(1);
  during.abort(new Error('stop'));
  assert.equal(((await pending) as Error).message, 'stop');
  assert.equal(seen!.aborted, true);
});

Deno.test('retry: the overall deadline stops it and aborts a running attempt', async () => {
  const { fake, clock } = fakeClock();
  const policy = new RetryPolicy(
    { maxRetryAttempts: 10, retryBackoffBase: 100, resilience: { retryDeadlineMs: 500 } },
    { clock, metrics: new Metrics(), random: () => 0 },
  );
  let calls = 0;
  const run = policy.execute(() => {
    calls++;
    return Promise.reject(transient());
  }).catch((e) => e);
  await fake.runAllAsync();
  const error = await run;
  assert.ok(error instanceof RetryExhaustedError);
  assert.equal(error.reason, 'deadline');
  // Attempts at 0, 100, 300; the next delay (400) would end past 500.
  assert.equal(calls, 3);

  // An attempt that honours its signal is aborted by the deadline.
  const hanging = policy.execute(({ signal }) =>
    new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
  ).catch((e) => e);
  await fake.runAllAsync();
  const timedOut = await hanging;
  assert.ok(timedOut instanceof RetryExhaustedError);
  assert.equal((timedOut.attempts[0].error as DOMException).name, 'TimeoutError');
});

Deno.test('retry: the budget caps retries at a share of calls (no retry storm)', async () => {
  const { fake, clock } = fakeClock();
  const metrics = new Metrics();
  const policy = new RetryPolicy(
    {
      maxRetryAttempts: 3,
      retryBackoffBase: 1,
      resilience: { retryBudgetRatio: 0.2, retryBudgetMinPerSecond: 0 },
    },
    { clock, metrics, random: () => 0 },
  );
  let attempts = 0;
  const runs = Array.from({ length: 50 }, () =>
    policy.execute(() => {
      attempts++;
      return Promise.reject(transient());
    }, { resourceKey: 'db' }).catch((e) => e));
  await fake.runAllAsync();
  const errors = await Promise.all(runs);
  // 50 calls may add at most 10 retries.
  assert.ok(attempts <= 60, `attempts ${attempts}`);
  assert.equal(metrics.counter('retry.retries'), attempts - 50);
  assert.ok(
    errors.some((e) => e instanceof RetryExhaustedError && e.reason === 'budget-exhausted'),
  );
  // Another resource has its own budget.
  assert.ok(policy.budget('other').remaining(fake.now) === 0);
  assert.equal(policy.budget('db').remaining(fake.now), 0);
});

Deno.test('classifyError: transient and permanent families', () => {
  const cases: [unknown, boolean, string][] = [
    [Object.assign(new Error('x'), { code: '40P01' }), true, 'pg-40P01'],
    [Object.assign(new Error('x'), { code: '08006' }), true, 'pg-08006'],
    [Object.assign(new Error('x'), { code: '22P02' }), false, 'pg-22P02'],
    [Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), true, 'connection'],
    [Object.assign(new Error('x'), { code: 'CONNECTION_CLOSED' }), true, 'connection'],
    [new TypeError('fetch failed'), true, 'network'],
    [new TypeError('x is not a function'), false, 'validation'],
    [{ name: 'StoreUnavailableError', message: 'down' }, true, 'store-unavailable'],
    [new Response(null, { status: 502 }), true, 'http-502'],
    [new Response(null, { status: 501 }), false, 'http-501'],
    [new Response(null, { status: 422 }), false, 'http-422'],
    [
      { name: 'FunctionsHttpError', context: new Response(null, { status: 503 }) },
      true,
      'http-503',
    ],
    [new Error('boom'), false, 'unknown'],
    [
      new RetryExhaustedError('attempts-exhausted', [{
        error: new Response(null, { status: 503 }),
        delayMs: 0,
      }]),
      true,
      'http-503',
    ],
  ];
  for (const [error, transient, reason] of cases) {
    const c = classifyError(error);
    assert.equal(c.transient, transient, reason);
    assert.equal(c.reason, reason);
  }
  assert.equal(parseRetryAfter('3'), 3000);
  assert.equal(parseRetryAfter(new Date(2000).toUTCString(), 0), 2000);
  assert.equal(parseRetryAfter('soon'), undefined);
});

Deno.test('RetryPolicy: invalid config says what it received', () => {
  assert.throws(
    () => new RetryPolicy({ maxRetryAttempts: 0, retryBackoffBase: 100 }),
    /'maxRetryAttempts' must be an integer >= 1: received 0/,
  );
});

Deno.test('domain errors carry domain facts, no HTTP status; the classifier reads their kind', async () => {
  const { DbNotFoundError, DbValidationError } = await import('../../shared/db/errors.ts');
  const { BulkheadRejectedError, CircuitOpenError, ThrottledError } = await import(
    '../../shared/optimizer/resilience/mod.ts'
  );
  const errors = [
    new DbValidationError('limit', 'must be 1..100', 0),
    new DbNotFoundError('robots', 'r1'),
    new CircuitOpenError('db', 1000, 'open'),
    new ThrottledError('db', 'rate-limit', 1000, 10),
    new BulkheadRejectedError('db', 'queue-full', 2),
  ];
  for (const error of errors) assert.equal('status' in error, false, error.name);
  assert.deepEqual(classifyError(errors[0]), { transient: false, reason: 'validation' });
  assert.deepEqual(classifyError(errors[1]), { transient: false, reason: 'not-found' });
});
