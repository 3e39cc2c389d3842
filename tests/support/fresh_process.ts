/**
 * Runs a probe module in a fresh Deno process with a function's import map, as that function
 * would run: what a cold isolate loads and builds (lazy loading tests). Upstash and the local
 * cron are off unless `env` says otherwise.
 *
 * @module
 */
const root = new URL('../../', import.meta.url);

/** The probe's exit code and its trimmed output. */
export interface ProbeResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Writes `code` to a temporary module and runs it with `supabase/functions/<fn>/deno.json`.
 *
 * @example
 * ```ts
 * const out = await runInFunction('robots', `console.log('ok')`, { SUPABASE_DB_URL: url });
 * ```
 */
export async function runInFunction(
  fn: string,
  code: string,
  env: Record<string, string>,
): Promise<ProbeResult> {
  const config = new URL(`supabase/functions/${fn}/deno.json`, root).pathname;
  const probe = await Deno.makeTempFile({ suffix: '.ts' });
  await Deno.writeTextFile(probe, code);
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ['run', '-A', '--no-lock', '--config', config, probe],
      env: {
        DENO_NO_PACKAGE_JSON: '1',
        NO_COLOR: '1',
        LOCAL_CRON: 'off',
        UPSTASH_REDIS_REST_URL: '',
        UPSTASH_REDIS_REST_TOKEN: '',
        ...env,
      },
    }).output();
    const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes).trim();
    return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
  } finally {
    await Deno.remove(probe);
  }
}
