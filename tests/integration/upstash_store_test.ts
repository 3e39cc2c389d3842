import assert from 'node:assert/strict';
import { UpstashStore } from '../../shared/store/upstash.ts';
import { StoreUnavailableError } from '../../shared/store/types.ts';
import { startRedisBridge } from '../../scripts/redis-bridge.ts';
import { startRedisServer } from '../../scripts/services/redis.ts';
import { upstashBridge } from '../support/services.ts';
import { storeContract } from '../support/store_contract.ts';

// The contract on a real redis-server through the bridge. The timeout is generous: the machine
// is shared and this suite checks behaviour, not latency.
storeContract('UpstashStore via the bridge', () =>
  Promise.resolve({
    store: new UpstashStore({ ...upstashBridge(), timeoutMs: 5_000 }),
    cleanup: () => Promise.resolve(),
  }));

/** Resolves with the error `promise` rejects with, and how long it took. */
async function failure(promise: Promise<unknown>): Promise<{ error: Error; elapsedMs: number }> {
  const started = performance.now();
  try {
    await promise;
  } catch (error) {
    return { error: error as Error, elapsedMs: performance.now() - started };
  }
  throw new assert.AssertionError({ message: 'expected a rejection' });
}

Deno.test('UpstashStore: redis-server killed mid-suite -> StoreUnavailableError, no hang', async () => {
  const redis = await startRedisServer();
  const bridge = await startRedisBridge({ redisUrl: redis.url, token: 'fault-token' });
  try {
    const store = new UpstashStore({ url: bridge.url, token: bridge.token, timeoutMs: 1_000 });
    await store.set('fault:k', { ok: true });
    assert.deepEqual(await store.get('fault:k'), { ok: true });
    assert.equal(await store.incrby('fault:n'), 1);

    await redis.kill();

    for (
      const call of [
        () => store.get('fault:k'),
        () => store.set('fault:k', 1),
        () => store.pipeline([{ op: 'get', key: 'fault:k' }, { op: 'incrby', key: 'n', by: 1 }]),
        () => store.ping(),
      ]
    ) {
      const { error, elapsedMs } = await failure(call());
      assert.ok(error instanceof StoreUnavailableError, `${error.name}: ${error.message}`);
      assert.match(error.message, /redis-server/);
      // The bridge answers 503 at once; well inside the adapter's 1 s bound.
      assert.ok(elapsedMs < 1_000, `failed after ${elapsedMs}ms`);
    }
  } finally {
    await bridge.close();
    await redis.stop();
  }
});

Deno.test('UpstashStore: a hung redis-server -> the adapter timeout fires', async () => {
  const redis = await startRedisServer();
  const bridge = await startRedisBridge({ redisUrl: redis.url, token: 'hung-token' });
  try {
    const store = new UpstashStore({ url: bridge.url, token: bridge.token, timeoutMs: 300 });
    await store.set('hung:k', 1);
    Deno.kill(redis.pid, 'SIGSTOP');
    try {
      const { error, elapsedMs } = await failure(store.get('hung:k'));
      assert.ok(error instanceof StoreUnavailableError, `${error.name}: ${error.message}`);
      assert.match(error.message, /within 300ms/);
      assert.ok(elapsedMs < 3_000, `failed after ${elapsedMs}ms`);
    } finally {
      Deno.kill(redis.pid, 'SIGCONT');
    }
    // Redis is back: the store answers again.
    assert.equal(await store.get('hung:k'), 1);
  } finally {
    await bridge.close();
    await redis.stop();
  }
});

Deno.test('UpstashStore: bridge down (closed port) -> StoreUnavailableError', async () => {
  const listener = Deno.listen({ hostname: '127.0.0.1', port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const store = new UpstashStore({ url: `http://127.0.0.1:${port}`, token: 't', timeoutMs: 500 });
  const { error, elapsedMs } = await failure(store.get('k'));
  assert.ok(error instanceof StoreUnavailableError, `${error.name}: ${error.message}`);
  assert.ok(elapsedMs < 5_000, `failed after ${elapsedMs}ms`);
  await assert.rejects(store.ping(), StoreUnavailableError);
});

Deno.test('UpstashStore: a wrong token -> StoreUnavailableError naming the 401', async () => {
  const { url } = upstashBridge();
  const store = new UpstashStore({ url, token: 'not-the-token', timeoutMs: 5_000 });
  const { error } = await failure(store.get('k'));
  assert.ok(error instanceof StoreUnavailableError, `${error.name}: ${error.message}`);
  assert.match(error.message, /Unauthorized/);
});
