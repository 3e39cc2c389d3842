/**
 * One robots read, small enough to run under the edge runtime's older Deno too (`npm test` runs
 * this file and `tests/unit/health_test.ts` with `tools/edge-deno`'s Deno 2.1.4): the robots app on a
 * seeded PGlite with a memory-store optimizer, read anonymously and as the owner.
 */
import assert from 'node:assert/strict';
import { createEmbeddedDatabase } from '../../scripts/pglite.ts';
import { signLocalJwt } from '../../shared/http/auth.ts';
import { AdvancedBackendOptimizer, Metrics } from '../../shared/optimizer/mod.ts';
import { MemoryStore } from '../../shared/store/memory.ts';
import { createRobotsApp } from '../../supabase/functions/robots/app.ts';

const ALICE = '11111111-1111-4111-8111-111111111111';

Deno.test('robots smoke: public listing and an owner read on the seeded database', async () => {
  const db = await createEmbeddedDatabase();
  try {
    const app = createRobotsApp({
      db: () => Promise.resolve(db),
      optimizer: new AdvancedBackendOptimizer({
        store: new MemoryStore(),
        metrics: new Metrics(),
        metricsFlushIntervalMs: 0,
      }),
    });
    const publicList = await app.request('/robots/public?limit=50');
    assert.equal(publicList.status, 200);
    const { items } = await publicList.json() as { items: { id: string; is_public: boolean }[] };
    assert.ok(items.length >= 3);
    assert.ok(items.every((robot) => robot.is_public));

    const token = await signLocalJwt({ role: 'authenticated', sub: ALICE });
    const own = await app.request('/robots/a1a00000-0000-4000-8000-000000000002', {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(own.status, 200);
    const robot = await own.json() as { user_id: string; is_public: boolean };
    assert.equal(robot.user_id, ALICE);
    assert.equal(robot.is_public, false);
  } finally {
    await db.close();
  }
});
