/**
 * The hit lane: a read a resource app has answered from the cache is answered again, while the
 * same value is fresh in the isolate's memory tier, without Hono's router, middleware chain,
 * query validation and key building. Its cost is close to bare Hono's (docs/performance.md):
 * the caller is still authenticated and rate limited exactly as the middleware does it, the
 * optimizer still counts the hit, and the answer carries the same status, body and headers.
 *
 * How it stays exact:
 *
 * - an entry is made only by the full path, after a `GET` answered 200 from a cached read
 *   (`optimizedResource(...).read`, `remember`), under the request's path and query **as sent**
 *   and the verified caller's identity (mode, role, user id, key type): the same inputs give the
 *   same route, the same admission and the same cache key. Another spelling of the query is its
 *   own entry (the full path canonicalizes it into the same cache key);
 * - every request is authenticated again (`callerResolver`: expiry, revoked keys, bad
 *   credentials are the middleware's 401s, answered by the full path) and counted by the same
 *   per-caller rate limit (`callerRateLimit`; a refusal is handed to the full path, which answers
 *   the 429 without counting twice);
 * - the answer is the optimizer's `memoryHit`: the very value the full path answered (held by a
 *   `WeakRef`), fresh in memory, not due for a re-check against the store or a refresh ahead.
 *   Anything else, an invalidation included, falls through to the full path;
 * - requests other than a plain `GET` (a body, `x-warmup`) always take the full path.
 *
 * Entries are bounded (`maxEntries`, oldest dropped first) and hold no answer: the text and
 * `ETag` are the ones `serializeOnce` keeps with the cached value. Each answer is counted as
 * `http.hit_lane` in the optimizer's metrics. Turn the lane off with
 * `QF_HIT_LANE=false` (or the app's `hitLane: false`).
 *
 * @module
 */
import type { AdvancedBackendOptimizer } from '../optimizer/mod.ts';
import { instanceId, markRequest } from '../runtime/instance.ts';
import { EXPOSED_HEADERS_VALUE, requestIdOf, totalTiming } from './app.ts';
import type { AuthContext } from './auth.ts';
import { ifNoneMatchHits, type SerializedBody, serializedOf } from './json_response.ts';
import type { CallerRateLimit, RateLimitCheck } from './rate_limit.ts';

/** A read the full path answered, as the lane replays it. */
export interface HitLaneRead {
  /** The optimizer the read went through. */
  optimizer: Pick<AdvancedBackendOptimizer, 'memoryHit' | 'metrics'>;
  /** Its cache key. */
  cacheKey: string;
  /** Its tags. */
  tags: string[];
  /** The keys it declares for pre-warming, current at each hit. */
  dependencies?: () => string[] | undefined;
  /** The value the full path answered. */
  value: object;
}

interface LaneEntry extends Omit<HitLaneRead, 'value'> {
  value: WeakRef<object>;
}

/** Options of {@link HitLane}. */
export interface HitLaneOptions {
  /** Who is calling (the app's `authenticate` resolver). */
  resolveCaller: (headers: Headers) => Promise<AuthContext>;
  /** The app's per-caller rate limit. */
  rateLimit: CallerRateLimit;
  /** Most entries kept (oldest dropped first). @default 4096 */
  maxEntries?: number;
}

// deno-lint-ignore no-explicit-any
type Fetch = (request: Request, env?: any, ctx?: any) => Response | Promise<Response>;

/** Longest path and query the lane keeps an entry for, characters. */
const MAX_PATH_LENGTH = 2048;

// The lane of a request on the full path, for `remember` (set before the full path runs).
const laneOfRequest = new WeakMap<Request, HitLane>();

/** The caller's identity as routes decide on it: the same string, the same route outcome. */
function identityOf(auth: AuthContext): string {
  return `${auth.authMode}|${auth.role}|${auth.userId?.toLowerCase() ?? ''}|${
    auth.isService ? 's' : ''
  }|${auth.keyType ?? ''}`;
}

/** `/path?query` of an absolute request URL, as sent. */
function pathAndQuery(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2);
  return start < 0 ? '/' : url.slice(start);
}

/** The address `Deno.serve` gives as `info.remoteAddr` (Hono's `c.env`). */
function remoteHostname(env: unknown): string | undefined {
  return (env as { remoteAddr?: { hostname?: string } } | undefined)?.remoteAddr?.hostname;
}

/** The headers of a cached answer that do not change from one request to the next. */
function staticHeaders(etag: string): [string, string][] {
  return [
    ['x-instance-id', instanceId],
    ['timing-allow-origin', '*'],
    ['access-control-allow-origin', '*'],
    ['access-control-expose-headers', EXPOSED_HEADERS_VALUE],
    ['cache-control', 'private, no-store'],
    ['etag', etag],
  ];
}

/** The `x-cache` of a template (the common case); another one is set on the copy. */
const TEMPLATE_X_CACHE = 'hit; tier=memory; reason=fresh';

/**
 * The 200 answer of a serialized body, copied for each request (`Response.clone` copies the
 * validated header list: building the ten headers of an answer anew costs 4-15 us, a copy
 * about 1 us, docs/performance.md).
 */
function answerTemplate(body: SerializedBody): Response {
  const headers = staticHeaders(body.etag);
  headers.push(
    ['x-cache', TEMPLATE_X_CACHE],
    ['content-type', 'application/json; charset=UTF-8'],
  );
  return new Response(body.text, { status: 200, headers });
}

// Kept with the serialized body (itself kept with the cached value).
const templates = new WeakMap<SerializedBody, Response>();

/**
 * The hit lane of one resource app (see the module documentation).
 *
 * @example
 * ```ts
 * const lane = new HitLane({ resolveCaller: callerResolver(), rateLimit: callerRateLimit() });
 * app.fetch = lane.wrap(app.fetch);
 * ```
 */
export class HitLane {
  #entries = new Map<string, LaneEntry>();
  #resolve: HitLaneOptions['resolveCaller'];
  #limit: CallerRateLimit;
  #max: number;

  constructor(options: HitLaneOptions) {
    this.#resolve = options.resolveCaller;
    this.#limit = options.rateLimit;
    this.#max = options.maxEntries ?? 4096;
  }

  /** Entries kept. */
  get size(): number {
    return this.#entries.size;
  }

  /** Forgets every entry. */
  clear(): void {
    this.#entries.clear();
  }

  /**
   * `fetch` answering the reads the lane knows, the others through `fetch` (Hono's).
   *
   * @example
   * ```ts
   * app.fetch = lane.wrap(app.fetch);
   * ```
   */
  wrap<F extends Fetch>(fetch: F): F {
    return ((request: Request, env?: unknown, ctx?: unknown) => {
      if (request.method !== 'GET') return fetch(request, env, ctx);
      const full = () => {
        laneOfRequest.set(request, this);
        return fetch(request, env, ctx);
      };
      // Nothing to answer from (caching off, or nothing cached yet): no promise, no extra turn.
      if (this.#entries.size === 0) return full();
      // Whatever goes wrong in the lane, the full path answers (and says what went wrong).
      return this.#serve(request, env).then((answer) => answer ?? full(), full);
    }) as F;
  }

  /**
   * Records the read a request's full path answered with 200 (called by
   * `optimizedResource(...).read`); nothing when the request did not come through a lane.
   */
  static remember(request: Request, auth: AuthContext | undefined, read: HitLaneRead): void {
    const lane = laneOfRequest.get(request);
    if (!lane || !auth) return;
    const path = pathAndQuery(request.url);
    if (path.length > MAX_PATH_LENGTH) return;
    const key = `${identityOf(auth)}\u0000${path}`;
    const entries = lane.#entries;
    entries.delete(key);
    if (entries.size >= lane.#max) entries.delete(entries.keys().next().value!);
    entries.set(key, { ...read, value: new WeakRef(read.value) });
  }

  async #serve(request: Request, env: unknown): Promise<Response | undefined> {
    const headers = request.headers;
    if (
      this.#entries.size === 0 || headers.has('x-warmup') || headers.has('content-length') ||
      headers.has('transfer-encoding')
    ) return undefined;
    const started = performance.now();
    const path = pathAndQuery(request.url);
    let auth: AuthContext;
    try {
      auth = await this.#resolve(headers);
    } catch {
      return undefined; // the full path answers the 401
    }
    const entry = this.#entries.get(`${identityOf(auth)}\u0000${path}`);
    const value = entry?.value.deref();
    if (!entry || value === undefined) return undefined;
    const body = serializedOf(value);
    if (!body) return undefined;
    let limited: Extract<RateLimitCheck, { admitted: true }> | undefined;
    if (this.#limit.enabled) {
      const checked = await this.#limit.check('GET', auth, headers, remoteHostname(env));
      if (!checked.admitted) {
        // The full path answers the 429 from this decision (counted once).
        this.#limit.decided(request, checked);
        return undefined;
      }
      limited = checked;
    }
    // Only the value the full path answered (not one refreshed or reloaded since: the full
    // path answers that one and records it).
    const hit = entry.optimizer.memoryHit<object>(entry.cacheKey, {
      tags: entry.tags,
      dependencies: entry.dependencies?.(),
      expected: value,
    });
    if (!hit) {
      if (limited) this.#limit.decided(request, limited);
      return undefined;
    }
    markRequest();
    entry.optimizer.metrics.increment('http.hit_lane');
    const cache = hit.cache!;
    const xCache = cache.status === 'hit' && cache.reason === 'fresh'
      ? TEMPLATE_X_CACHE
      : `${cache.status}; tier=${cache.tier}; reason=${cache.reason}`;
    const timing = `optimizer;dur=${
      hit.durationMs.toFixed(1)
    };desc="${cache.status} ${cache.tier}",${totalTiming(started)}`;
    const requestId = requestIdOf(headers.get('x-request-id'));
    if (ifNoneMatchHits(headers.get('if-none-match') ?? undefined, body.etag)) {
      const answer = staticHeaders(body.etag);
      answer.push(['x-cache', xCache], ['x-request-id', requestId], ['server-timing', timing]);
      if (limited) {
        for (const name in limited.headers) answer.push([name, limited.headers[name]]);
      }
      return new Response(null, { status: 304, headers: answer });
    }
    // A copy of the entry's prepared answer: only what changes per request is validated again.
    let template = templates.get(body);
    if (!template) templates.set(body, template = answerTemplate(body));
    const answer = template.clone();
    const out = answer.headers;
    if (xCache !== TEMPLATE_X_CACHE) out.set('x-cache', xCache);
    // Not in the template: appended (`set` would look for them first).
    out.append('x-request-id', requestId);
    if (limited) { for (const name in limited.headers) out.append(name, limited.headers[name]); }
    out.append('server-timing', timing);
    return answer;
  }
}
