/**
 * Postgres data exceptions a caller's input can cause map to 400 in the one error-mapping place,
 * on real PostgreSQL 15 through postgres.js (the production driver) and on PGlite.
 */
import assert from 'node:assert/strict';
import { createPostgresDatabase, type Database } from '../../shared/db/mod.ts';
import { createEmbeddedDatabase } from '../../scripts/pglite.ts';
import { toApiError } from '../../shared/http/errors.ts';
import { databaseUrl } from '../support/services.ts';

const cases: [sql: string, status: number, code: string][] = [
  [`select '2026-02-30'::timestamptz`, 400, 'invalid_input'], // 22008
  [`select '2026-13-01T00:00:00Z'::timestamptz`, 400, 'invalid_input'],
  [`select '0000-01-01T00:00:00Z'::timestamptz`, 400, 'invalid_input'],
  [`select '{"a":"\\u0000"}'::jsonb`, 400, 'invalid_input'], // 22P05
  [`select 'x'::uuid`, 400, 'invalid_input'], // 22P02
  [`select 1/0`, 400, 'invalid_input'], // 22012
  [`select 'a' || chr(0)`, 400, 'invalid_input'], // 54000
  [`select * from public.no_such_table`, 500, 'internal_error'], // 42P01: a server bug
];

for (
  const backend of [
    { name: 'postgres', open: () => Promise.resolve(createPostgresDatabase(databaseUrl())) },
    { name: 'pglite', open: () => createEmbeddedDatabase({ seed: false }) },
  ]
) {
  Deno.test(`db errors [${backend.name}]: data exceptions are 400s, server faults 500s`, async () => {
    let db: Database | undefined;
    try {
      db = await backend.open();
      for (const [sql, status, code] of cases) {
        let caught: unknown;
        try {
          await db.query(sql);
        } catch (error) {
          caught = error;
        }
        assert.ok(caught, `${sql} should fail`);
        const apiError = toApiError(caught);
        assert.equal(apiError.status, status, `${sql}: ${(caught as Error).message}`);
        assert.equal(apiError.code, code, sql);
      }
      if (backend.name === 'postgres') {
        // Real Postgres refuses a 15,000-deep jsonb with 54001 (stack depth): a 400 too.
        // (PGlite's WebAssembly stack does not survive it, so it is not tried there.)
        let caught: unknown;
        try {
          await db.query(`select (repeat('[', 15000) || repeat(']', 15000))::jsonb`);
        } catch (error) {
          caught = error;
        }
        assert.ok(caught, 'a 15,000-deep jsonb is refused');
        assert.equal((caught as { code?: string }).code, '54001');
        assert.equal(toApiError(caught).status, 400, (caught as Error).message);
      }
    } finally {
      await db?.close();
    }
  });
}
