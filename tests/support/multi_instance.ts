/**
 * Several dev-server processes at once, as several isolates of one function would run in
 * production: same Redis, same Postgres, separate memory.
 *
 * @module
 */
import { type DevServer, startDevServer } from './dev_server.ts';

/** Running instances; `stop()` stops them all. */
export interface Instances {
  servers: DevServer[];
  stop(): Promise<void>;
}

/**
 * Starts one dev server per element of `envs`, in parallel; stops the ones that started if one
 * fails.
 *
 * @example
 * ```ts
 * const { servers, stop } = await startInstances([env, env, env]);
 * ```
 */
export async function startInstances(envs: Record<string, string>[]): Promise<Instances> {
  const results = await Promise.allSettled(envs.map((env) => startDevServer(env)));
  const servers = results.flatMap((r) => r.status === 'fulfilled' ? [r.value] : []);
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop().catch(() => -1)));
  };
  const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return { servers, stop };
}
