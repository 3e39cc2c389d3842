/**
 * Local cron: what pg_cron + pg_net do on Supabase (migrations `..._optimizer_schedules.sql` and
 * `..._cron_secret_keys.sql`), run in-process by the dev server (`npm start`):
 * `POST /functions/v1/warmup` every 5 minutes and `POST /functions/v1/optimizer/run` every 15
 * minutes, over HTTP, with the headers and the JSON body pg_net sends: the secret API key in
 * `apikey` and `Authorization: Bearer` (the dev server's local `sb_secret_...` key), else the
 * legacy `x-cron-secret`; body `{ trigger: 'cron', job, scheduled_at }`. Each run is logged on
 * one line.
 *
 * The warming job follows the interval the warmup function recommends (`interval.nextMs`, 1..15
 * min); pg_cron keeps its fixed schedule.
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `LOCAL_CRON` | `on` | `off` disables the local schedules |
 * | `LOCAL_CRON_SPEEDUP` | `1` | divides every interval (demos: `60` runs the warming every 5 s) |
 * | `SUPABASE_SECRET_KEYS` / `SUPABASE_SECRET_KEY` | set by the dev server | the key sent as pg_net sends Vault's `secret_key` |
 * | `CRON_SECRET` | a random secret for this process when no secret key is set | the legacy `x-cron-secret` value |
 *
 * @module
 */

/** One scheduled job. */
export interface LocalCronJob {
  /** The pg_cron job name. */
  name: string;
  /** Path under the functions URL, e.g. `/warmup`. */
  path: string;
  /** Interval, ms (before the speed-up). */
  everyMs: number;
  /** Follow `interval.nextMs` from the answer. @default false */
  adaptive?: boolean;
}

/** The migration's schedules. */
export const DEFAULT_JOBS: LocalCronJob[] = [
  { name: 'quantforge-warmup', path: '/warmup', everyMs: 5 * 60_000, adaptive: true },
  { name: 'quantforge-optimizer-run', path: '/optimizer/run', everyMs: 15 * 60_000 },
];

/** One logged run. */
export interface LocalCronRun {
  job: string;
  status: number | null;
  durationMs: number;
  summary: string;
  nextInMs: number;
}

/** Options of {@link startLocalCron}. */
export interface LocalCronOptions {
  /** `http://127.0.0.1:54321/functions/v1`. */
  baseUrl: string;
  /** How the calls authenticate: `{ apikey, authorization }` or `{ 'x-cron-secret' }`. */
  authHeaders: Record<string, string>;
  /** Divides every interval. @default 1 */
  speedup?: number;
  jobs?: LocalCronJob[];
  /** @default console.log */
  log?: (line: string) => void;
  /** Called after each run (tests). */
  onRun?: (run: LocalCronRun) => void;
  /** Longest wait for one call, ms. @default 60_000 */
  timeoutMs?: number;
  /** Delay of the first run of each job, ms (before the speed-up). @default the job's interval */
  firstRunMs?: number;
}

/** A running schedule. */
export interface LocalCron {
  /** Runs a job now (outside its schedule). */
  runNow(name: string): Promise<LocalCronRun>;
  /** Stops the timers and waits for runs in flight. */
  stop(): Promise<void>;
}

function summarize(path: string, body: Record<string, unknown>): string {
  if (path === '/warmup') {
    const functions = (body.functions ?? []) as { function: string; coldStart: boolean | null }[];
    const interval = body.interval as { nextMs?: number } | undefined;
    const cold = functions.filter((f) => f.coldStart).map((f) => f.function);
    return `${functions.length} functions pinged, cold: ${
      cold.join(', ') || 'none'
    }, next interval ${Math.round((interval?.nextMs ?? 0) / 1000)} s`;
  }
  const applied = (body.optimizationsApplied ?? []) as { setting?: string }[];
  return `${applied.length} changes applied${
    applied.length ? ` (${applied.map((a) => a.setting).join(', ')})` : ''
  }, estimated gain ${body.estimatedGainPercent ?? 0}%`;
}

/**
 * Starts the schedules.
 *
 * @example
 * ```ts
 * const cron = startLocalCron({
 *   baseUrl: 'http://127.0.0.1:54321/functions/v1',
 *   authHeaders: { 'x-cron-secret': cronSecret },
 * });
 * await cron.stop();
 * ```
 */
export function startLocalCron(options: LocalCronOptions): LocalCron {
  const speedup = options.speedup ?? 1;
  if (!Number.isFinite(speedup) || speedup <= 0) {
    throw new RangeError(`'speedup' must be a number > 0: received ${options.speedup}`);
  }
  const log = options.log ?? ((line: string) => console.log(line));
  const jobs = options.jobs ?? DEFAULT_JOBS;
  const timers = new Map<string, ReturnType<typeof setTimeout>>();
  const inFlight = new Set<Promise<unknown>>();
  let stopped = false;

  const call = async (job: LocalCronJob): Promise<LocalCronRun> => {
    const started = performance.now();
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? 60_000);
    let status: number | null = null;
    let summary: string;
    let nextMs = job.everyMs;
    try {
      const res = await fetch(`${options.baseUrl.replace(/\/+$/, '')}${job.path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...options.authHeaders },
        body: JSON.stringify({
          trigger: 'cron',
          job: job.name,
          scheduled_at: new Date().toISOString(),
        }),
        signal: controller.signal,
      });
      status = res.status;
      const body = await res.json().catch(() => ({})) as Record<string, unknown>;
      summary = res.ok ? summarize(job.path, body) : `error ${JSON.stringify(body).slice(0, 200)}`;
      const recommended = (body.interval as { nextMs?: unknown } | undefined)?.nextMs;
      if (job.adaptive && typeof recommended === 'number' && recommended > 0) nextMs = recommended;
    } catch (error) {
      summary = `failed: ${error instanceof Error ? error.message : String(error)}`;
    } finally {
      clearTimeout(timer);
    }
    const run: LocalCronRun = {
      job: job.name,
      status,
      durationMs: Math.round(performance.now() - started),
      summary,
      nextInMs: Math.max(10, Math.round(nextMs / speedup)),
    };
    log(
      `[local-cron] ${job.name} POST ${job.path} -> ${
        status ?? 'no answer'
      } in ${run.durationMs} ms: ${summary}; next in ${Math.round(run.nextInMs / 100) / 10} s`,
    );
    options.onRun?.(run);
    return run;
  };

  const track = <T>(promise: Promise<T>): Promise<T> => {
    inFlight.add(promise);
    promise.finally(() => inFlight.delete(promise)).catch(() => {});
    return promise;
  };

  const schedule = (job: LocalCronJob, delayMs: number) => {
    if (stopped) return;
    timers.set(
      job.name,
      setTimeout(() => {
        timers.delete(job.name);
        track(call(job)).then((run) => schedule(job, run.nextInMs));
      }, delayMs),
    );
  };

  for (const job of jobs) {
    schedule(job, Math.max(10, Math.round((options.firstRunMs ?? job.everyMs) / speedup)));
  }

  return {
    runNow(name) {
      const job = jobs.find((j) => j.name === name);
      if (!job) return Promise.reject(new Error(`no local cron job named '${name}'`));
      return track(call(job));
    },
    async stop() {
      stopped = true;
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
      while (inFlight.size) await Promise.allSettled([...inFlight]);
    },
  };
}

/** The secret API key the environment configures (`SUPABASE_SECRET_KEY`, else the `default`
 * or first entry of `SUPABASE_SECRET_KEYS`), if any. */
export function secretKeyFromEnv(read: (name: string) => string | undefined): string | undefined {
  const single = read('SUPABASE_SECRET_KEY');
  if (single) return single;
  const many = read('SUPABASE_SECRET_KEYS');
  if (!many) return undefined;
  try {
    const keys = JSON.parse(many) as Record<string, unknown>;
    const key = keys.default ?? Object.values(keys)[0];
    return typeof key === 'string' && key ? key : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The dev server's hook: reads `LOCAL_CRON`, `LOCAL_CRON_SPEEDUP`, the secret key (else
 * `CRON_SECRET`, a random one set for this process when unset), points the warmup function at this server
 * (`FUNCTIONS_URL`, `WARMUP_FUNCTIONS` unless set), and starts the schedules.
 *
 * @example
 * ```ts
 * const cron = startLocalCronFromEnv('http://127.0.0.1:54321/functions/v1', ['health', 'robots']);
 * await cron?.stop();
 * ```
 */
export function startLocalCronFromEnv(
  baseUrl: string,
  functionNames: string[],
): LocalCron | undefined {
  const setDefault = (name: string, value: string) => {
    if (!Deno.env.get(name)) Deno.env.set(name, value);
  };
  setDefault('FUNCTIONS_URL', baseUrl);
  setDefault('WARMUP_FUNCTIONS', functionNames.filter((n) => n !== 'warmup').join(','));
  const mode = (Deno.env.get('LOCAL_CRON') ?? 'on').trim().toLowerCase();
  if (['off', '0', 'false', 'no'].includes(mode)) {
    console.log('  cron:     off (LOCAL_CRON=off)');
    return undefined;
  }
  const raw = Deno.env.get('LOCAL_CRON_SPEEDUP') ?? '1';
  const speedup = Number(raw);
  if (!Number.isFinite(speedup) || speedup <= 0) {
    throw new RangeError(
      `LOCAL_CRON_SPEEDUP must be a number > 0: received ${JSON.stringify(raw)}`,
    );
  }
  const secretKey = secretKeyFromEnv((name) => Deno.env.get(name));
  let authHeaders: Record<string, string>;
  if (secretKey) {
    authHeaders = { apikey: secretKey, authorization: `Bearer ${secretKey}` };
  } else {
    setDefault('CRON_SECRET', crypto.randomUUID());
    authHeaders = { 'x-cron-secret': Deno.env.get('CRON_SECRET')! };
  }
  const jobs = DEFAULT_JOBS.filter((j) => functionNames.includes(j.path.split('/')[1]));
  console.log(
    `  cron:     ${
      jobs.map((j) => `${j.path} every ${Math.round(j.everyMs / speedup / 100) / 10} s`).join(', ')
    } (LOCAL_CRON=off disables)`,
  );
  return startLocalCron({ baseUrl, authHeaders, speedup, jobs });
}
