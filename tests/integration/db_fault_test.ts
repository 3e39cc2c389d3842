/**
 * The Postgres data layer under faults (issue #8, findings 4 and 5), on real PostgreSQL 15:
 * a throwaway cluster stopped (`pg_ctl stop -m fast`) and started under concurrent load, a
 * server that never answers, statements past their timeout, nothing listening.
 *
 * With postgres.js 3.4.9 the first test died with an uncaught
 * `TypeError: Cannot read properties of null (reading 'write')` (porsager/postgres #1154, #1208).
 *
 * @module
 */
import assert from 'node:assert/strict';
import { startPostgres } from '../../scripts/services/postgres.ts';
import {
  createPostgresDatabase,
  type Database,
  DbUnavailableError,
  postgresOptionsFromEnv,
} from '../../shared/db/mod.ts';
import { CircuitOpenError } from '../../shared/optimizer/resilience/errors.ts';
import { classifyError, signalsOverload } from '../../shared/optimizer/resilience/classify.ts';
import { RetryPolicy } from '../../shared/optimizer/resilience/retry.ts';
import { Metrics } from '../../shared/optimizer/metrics.ts';
import { toApiError } from '../../shared/http/errors.ts';
import { databaseUrl } from '../support/services.ts';

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A promise's error, or undefined when it resolved. */
const errorOf = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);

Deno.test('db fault: Postgres stopped fast under 20 concurrent clients: every call fails typed, the same pool serves after restart', async () => {
  const pg = await startPostgres({ withCron: false });
  const db = createPostgresDatabase(pg.url, { maxConnections: 3, connectTimeoutMs: 1000 });
  const outcomes = { ok: 0, unavailable: 0, other: [] as unknown[] };
  const kinds = new Set<string>();
  let stop = false;
  try {
    await db.query('create table t (id int primary key, v int)');
    await db.query('insert into t select g, 0 from generate_series(1, 20) g');
    const client = async (i: number) => {
      while (!stop) {
        // Reads and transactions with writes, several statements in flight at the stop.
        const call = i % 2 === 0
          ? db.query('select pg_sleep(0.01), count(*)::int as n from t')
          : db.transaction(async (tx) => {
            await tx.query('update t set v = v + 1 where id = $1', [i]);
            return await tx.query('select pg_sleep(0.01), v from t where id = $1', [i]);
          });
        const error = await errorOf(call);
        if (error === undefined) outcomes.ok++;
        else if (error instanceof DbUnavailableError) {
          outcomes.unavailable++;
          kinds.add(error.kind);
        } else outcomes.other.push(error);
        await wait(5);
      }
    };
    const clients = Array.from({ length: 20 }, (_, i) => client(i));
    try {
      await wait(500);
      await pg.stopServer();
      await wait(1500);
      await pg.startServer();
      await wait(500);
    } finally {
      stop = true;
      await Promise.all(clients);
    }
    assert.deepEqual(outcomes.other, [], 'only DbUnavailableError while Postgres was down');
    assert.ok(outcomes.ok > 0 && outcomes.unavailable > 0, JSON.stringify(outcomes));
    for (const kind of kinds) {
      assert.ok(['connect', 'connection-lost', 'overloaded'].includes(kind));
    }
    // The same pool answers again: new connections replaced the broken ones.
    const [{ n }] = await db.query<{ n: number }>('select count(*)::int as n from t');
    assert.equal(n, 20);
    assert.equal((await db.ping(2000)).ok, true);
  } finally {
    stop = true;
    await db.close();
    await pg.stop();
  }
});

Deno.test('db fault: nothing listening is a DbUnavailableError (connect), a 503 for the HTTP layer', async () => {
  const listener = Deno.listen({ hostname: '127.0.0.1', port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const db = createPostgresDatabase(`postgres://postgres:postgres@127.0.0.1:${port}/postgres`);
  try {
    const error = await errorOf(db.query('select 1'));
    assert.ok(error instanceof DbUnavailableError, String(error));
    assert.equal(error.kind, 'connect');
    assert.ok(error instanceof CircuitOpenError); // 503 + Retry-After at the HTTP layer
    assert.equal(toApiError(error).status, 503);
    assert.equal(error.retryAfterMs, 1000);
    assert.equal(error.code, 'db_unavailable');
    assert.deepEqual(classifyError(error), { transient: true, reason: 'db-unavailable' });
    assert.equal((await db.ping(1000)).ok, false);
  } finally {
    await db.close();
  }
});

Deno.test('db fault: a server that accepts but never answers fails at the connect timeout', async () => {
  const listener = Deno.listen({ hostname: '127.0.0.1', port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn); // never answers the startup message
  })();
  const db = createPostgresDatabase(`postgres://postgres:postgres@127.0.0.1:${port}/postgres`, {
    connectTimeoutMs: 300,
  });
  try {
    const errors = await Promise.all([
      errorOf(db.query('select 1')),
      errorOf(db.transaction((tx) => tx.query('select 1'))),
    ]);
    for (const error of errors) {
      assert.ok(error instanceof DbUnavailableError, String(error));
      assert.equal(error.kind, 'connect');
    }
  } finally {
    await db.close();
    listener.close();
    for (const conn of held) conn.close();
    await accepting.catch(() => {});
  }
});

Deno.test('db fault: a statement past the statement timeout fails typed; the pool stays usable', async () => {
  const db: Database = createPostgresDatabase(databaseUrl(), {
    maxConnections: 1,
    statementTimeoutMs: 300,
  });
  try {
    // Outside a transaction: the client-side bound destroys the connection.
    const single = await errorOf(db.query('select pg_sleep(3)'));
    assert.ok(single instanceof DbUnavailableError, String(single));
    assert.equal(single.kind, 'timeout');
    // Inside one: the server cancels it (`set local statement_timeout`, SQLSTATE 57014).
    const inTx = await errorOf(db.transaction((tx) => tx.query('select pg_sleep(3)')));
    assert.ok(inTx instanceof DbUnavailableError, String(inTx));
    assert.equal(inTx.kind, 'timeout');
    // The single connection of the pool was replaced: it answers at once.
    const [{ one }] = await db.query<{ one: number }>('select 1 as one');
    assert.equal(one, 1);
    // Errors of the statement itself stay what they are (not "unavailable").
    const syntax = await errorOf(db.query('select from where'));
    assert.ok(!(syntax instanceof DbUnavailableError));
    assert.equal((syntax as { code?: string }).code, '42601');
    // A transaction that failed rolled back and released its connection.
    const after = await db.transaction((tx) => tx.query<{ one: number }>('select 1 as one'));
    assert.equal(after[0].one, 1);
  } finally {
    await db.close();
  }
});

Deno.test('db: QF_DB_CONNECT_TIMEOUT_MS and QF_DB_STATEMENT_TIMEOUT_MS are read and validated', () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.deepEqual(postgresOptionsFromEnv(env({})), {});
  assert.deepEqual(
    postgresOptionsFromEnv(
      env({ QF_DB_CONNECT_TIMEOUT_MS: '800', QF_DB_STATEMENT_TIMEOUT_MS: '2500' }),
    ),
    { connectTimeoutMs: 800, statementTimeoutMs: 2500 },
  );
  assert.throws(
    () => postgresOptionsFromEnv(env({ QF_DB_CONNECT_TIMEOUT_MS: 'soon' })),
    /QF_DB_CONNECT_TIMEOUT_MS must be a number of ms from 1 to 600000: received 'soon'/,
  );
  assert.throws(() => postgresOptionsFromEnv(env({ QF_DB_STATEMENT_TIMEOUT_MS: '0' })), RangeError);
});

Deno.test('db fault: retries on a dead database end in the DbUnavailableError itself (503), not a 500', async () => {
  const listener = Deno.listen({ hostname: '127.0.0.1', port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const db = createPostgresDatabase(`postgres://postgres:postgres@127.0.0.1:${port}/postgres`);
  const metrics = new Metrics();
  const retry = new RetryPolicy({ maxRetryAttempts: 3, retryBackoffBase: 5 }, { metrics });
  try {
    const error = await errorOf(retry.execute(() => db.query('select 1')));
    assert.ok(error instanceof DbUnavailableError, String(error));
    assert.equal(metrics.counter('retry.retries'), 2); // it was retried, then handed on as is
    // Overload signals for the throttle: a refused connection is not one, a timeout is.
    assert.equal(signalsOverload(error), false);
    assert.equal(signalsOverload(new DbUnavailableError('timeout', 'statement timed out')), true);
  } finally {
    await db.close();
  }
});

Deno.test('db fault: no free pooled connection within the connect timeout is overloaded, not a failed connect', async () => {
  const db = createPostgresDatabase(databaseUrl(), { maxConnections: 1, connectTimeoutMs: 200 });
  let finish!: () => void;
  const holding = new Promise<void>((resolve) => finish = resolve);
  try {
    await db.query('select 1'); // the one connection is open
    const busy = db.transaction(async (tx) => {
      await tx.query('select 1');
      await holding; // keeps the only connection checked out
    });
    await wait(50);
    const error = await errorOf(db.query('select 1'));
    assert.ok(error instanceof DbUnavailableError, String(error));
    assert.equal(error.kind, 'overloaded');
    assert.equal(signalsOverload(error), true); // the throttle sends less
    finish();
    await busy;
    assert.equal((await db.query<{ one: number }>('select 1 as one'))[0].one, 1);
  } finally {
    finish();
    await db.close();
  }
});
