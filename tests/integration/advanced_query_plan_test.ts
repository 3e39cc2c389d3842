/**
 * The facade's query-plan optimization on a real PostgreSQL 15: a call naming a table and a
 * filter on a column without an index yields index advice; a supabase-js-like client does not.
 */
import assert from 'node:assert/strict';
import { AdvancedBackendOptimizer, Metrics } from '../../shared/optimizer/mod.ts';
import { MemoryStore } from '../../shared/store/memory.ts';
import { createPostgresDatabase } from '../../shared/db/postgres.ts';
import { settleBackground } from '../../shared/runtime/background.ts';
import { databaseUrl } from '../support/services.ts';

Deno.test('optimizer: executeOptimizedOperation with table + filters advises an index for a scanning filter', async () => {
  const db = createPostgresDatabase(databaseUrl());
  const table = `qp_facade_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const optimizer = new AdvancedBackendOptimizer({
    store: new MemoryStore(),
    metrics: new Metrics(),
    metricsFlushIntervalMs: 0,
  });
  try {
    await db.query(`create table public.${table} (id bigint primary key, account text, note text)`);
    await db.query(
      `insert into public.${table} select g, 'acct-' || (g % 5000), 'n' from generate_series(1, 20000) g`,
    );
    await db.query(`analyze public.${table}`);

    const filters = { account: 'acct-42', limit: 20 };
    const rows = await optimizer.executeOptimizedOperation(
      db,
      () => db.query(`select id from public.${table} where account = $1 limit 20`, ['acct-42']),
      { cacheKey: `pub:${table}:acct-42`, table, filters, resourceKey: 'db' },
    );
    assert.equal(rows.length, 4);
    await settleBackground();
    const advice = optimizer.queryPlanAdvice(db);
    assert.equal(advice.length, 1, JSON.stringify(advice));
    assert.match(advice[0].sql, new RegExp(`on public\\.${table} using btree \\(account\\)`));

    // Indexed now: a fresh analysis advises nothing for it.
    await db.query(`create index on public.${table} (account)`);
    await db.query(`analyze public.${table}`);
    const analysis = await optimizer.queryPlanFor(db)!.analyze(
      `select * from public.${table} where account = $1 limit 100`,
      ['acct-42'],
      { fresh: true },
    );
    assert.equal(analysis.advice.length, 0);
    assert.equal(analysis.plan.usesIndex, true);

    // A client without query() (supabase-js) gets no analyser; hostile names are skipped.
    assert.equal(optimizer.queryPlanFor({ from: () => ({}) }), undefined);
    await optimizer.executeOptimizedOperation(db, () => Promise.resolve(1), {
      table: 'robots; drop table robots',
      filters: { 'x = 1 or 1': 1 },
    });
    await settleBackground();
  } finally {
    await db.query(`drop table if exists public.${table}`);
    await optimizer.close();
    await db.close();
  }
});
