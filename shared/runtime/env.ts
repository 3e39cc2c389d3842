/**
 * Environment reading, in one place: every layer that reads configuration takes an
 * {@link EnvReader} (tests pass a map) and defaults to {@link processEnv}.
 *
 * @module
 */

/** Reads an environment variable; `undefined` where there is no environment (or no access). */
export type EnvReader = (name: string) => string | undefined;

/**
 * The process environment, read safely: Deno's `Deno.env` (which may be denied), else a
 * Node-like `process.env`; `undefined` when neither is there or access is refused.
 *
 * @example
 * ```ts
 * const url = processEnv('SUPABASE_DB_URL') ?? 'postgres://localhost/postgres';
 * ```
 */
export const processEnv: EnvReader = (name) => {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  try {
    // Under Deno, never touch `globalThis.process` (an unset variable fell through to it): its
    // first access loads Deno's Node `process` layer, about 15 ms of a cold start's CPU.
    const denoEnv = g.Deno?.env;
    return denoEnv ? denoEnv.get(name) : g.process?.env?.[name];
  } catch {
    return undefined;
  }
};
