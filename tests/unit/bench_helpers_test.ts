/**
 * Pure pieces of the benchmark scripts (bench/lib/): Redis command counting from INFO
 * commandstats, `deno bench --json` parsing, the failing-origin wrapper.
 */
import assert from 'node:assert/strict';
import { sumCommandCalls } from '../../bench/lib/redis_commands.ts';
import { parseDenoBenchJson } from '../../bench/lib/deno_bench_json.ts';
import { withFlakyOrigin } from '../../bench/lib/flaky_db.ts';
import type { Database } from '../../shared/db/types.ts';
import { classifyError } from '../../shared/optimizer/resilience/mod.ts';

Deno.test('sumCommandCalls adds every command of INFO commandstats', () => {
  const info = [
    '# Commandstats',
    'cmdstat_get:calls=12,usec=30,usec_per_call=2.50,rejected_calls=0,failed_calls=0',
    'cmdstat_evalsha:calls=3,usec=90,usec_per_call=30.00,rejected_calls=0,failed_calls=0',
    'cmdstat_client|setname:calls=1,usec=1,usec_per_call=1.00,rejected_calls=0,failed_calls=0',
    '',
  ].join('\r\n');
  assert.equal(sumCommandCalls(info), 16);
  assert.equal(sumCommandCalls('# Commandstats\r\n'), 0);
});

Deno.test('parseDenoBenchJson reads groups, names and times; a failed bench throws', () => {
  const ok = { n: 10, min: 1, max: 9, avg: 4, p75: 5, p99: 8, p995: 9, p999: 9 };
  const text = JSON.stringify({
    version: 1,
    benches: [
      { group: 'compose-success', name: 'compose: success, ours', results: [{ ok }] },
      { group: null, name: 'lonely', results: [{ ok: { ...ok, p75: 7 } }] },
    ],
  });
  assert.deepEqual(parseDenoBenchJson(text), [
    {
      group: 'compose-success',
      name: 'compose: success, ours',
      n: 10,
      avg: 4,
      min: 1,
      max: 9,
      p75: 5,
      p99: 8,
    },
    { group: '', name: 'lonely', n: 10, avg: 4, min: 1, max: 9, p75: 7, p99: 8 },
  ]);
  const failed = JSON.stringify({
    version: 1,
    benches: [{ group: 'g', name: 'broken', results: [{ failed: 'boom' }] }],
  });
  assert.throws(() => parseDenoBenchJson(failed), /bench 'broken' failed/);
});

Deno.test('withFlakyOrigin fails the chosen share with a transient overload, heals at 0', async () => {
  const calls: string[] = [];
  const db = {
    backend: 'postgres',
    query: (text: string) => (calls.push(text), Promise.resolve([{ ok: 1 }])),
    asUser: (_claims: unknown, fn: (tx: unknown) => unknown) => Promise.resolve(fn(db)),
    transaction: (fn: (tx: unknown) => unknown) => Promise.resolve(fn(db)),
    ping: () => Promise.resolve({ ok: true }),
    close: () => Promise.resolve(),
  } as unknown as Database;
  const control = { failureRatio: 0 };
  let draw = 0;
  const draws = [0.1, 0.9, 0.1];
  const flaky = withFlakyOrigin(db, control, () => draws[draw++ % draws.length]);
  assert.deepEqual(await flaky.query('select 1'), [{ ok: 1 }]);
  control.failureRatio = 0.5;
  const error = await flaky.query('select 2').catch((e) => e);
  assert.equal(error.name, 'DbUnavailableError');
  assert.equal(error.kind, 'overloaded');
  assert.equal(classifyError(error).transient, true);
  assert.deepEqual(await flaky.query('select 3'), [{ ok: 1 }]);
  await assert.rejects(flaky.transaction(() => Promise.resolve(1)), /too many clients/);
  control.failureRatio = 0;
  assert.equal(await flaky.transaction(() => Promise.resolve(1)), 1);
  assert.deepEqual(calls, ['select 1', 'select 3'], 'failed calls never reach the database');
  await flaky.close();
});
