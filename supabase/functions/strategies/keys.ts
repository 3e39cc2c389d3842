/**
 * The strategies function's cache vocabulary: caller-scoped keys, invalidation tags, what a
 * write makes stale, and the loaders that pre-warm public strategies. Other functions import
 * this file (not app.ts) to name strategies keys: a robots listing declares
 * `publicStrategyKey(robot.strategy_id)` or `publicStrategiesListKey()` as `dependencies`, and
 * the warmup function calls {@link registerStrategyLoaders} so that it can pre-warm them.
 *
 * @module
 */
import { ANON_CALLER } from '@shared/http/caller.ts';
import { loadPublicListing } from '@shared/http/resource_reads.ts';
import {
  type Database,
  requireUuid,
  StrategiesRepository,
  type Strategy,
  STRATEGY_TYPES,
  type StrategyType,
  type StrategyWrite,
  type TotalMode,
} from '@shared/db/mod.ts';
import {
  type AdvancedBackendOptimizer,
  advancedBackendOptimizer,
  type KeyPart,
  scopedKey,
  scopedTag,
  userKey,
} from '@shared/optimizer/mod.ts';

/** The resource key of the strategies table for throttle, breaker and pool. */
export const STRATEGIES_RESOURCE_KEY = 'strategies_db';

/** Tag of every cached read holding `userId`'s strategies (own listing, own searches). */
export const userStrategiesTag = (userId: string): string =>
  scopedTag({ userId: userId.toLowerCase() }, 'strategies');
/** Tag of every cached read holding public strategies (the public listing, searches). */
export const PUBLIC_STRATEGIES_TAG: string = scopedTag('public', 'strategies');
/** Tag of every cached read of one strategy by id, whoever cached it. */
export const strategyTag = (id: string): string =>
  scopedTag('public', `strategy:${requireUuid('id', id)}`);

// The robots function's tags (supabase/functions/robots/app.ts), spelled here so that this
// function does not load the robots app; tests/integration/strategies_function_test.ts checks
// that both spell them alike.
/** Tag of every cached read holding `userId`'s robots. */
export const userRobotsTag = (userId: string): string =>
  scopedTag({ userId: userId.toLowerCase() }, 'robots');
/** Tag of every cached read holding public robots. */
export const PUBLIC_ROBOTS_TAG: string = scopedTag('public', 'robots');
/** Tag of every cached read of one robot by id. */
export const robotTag = (id: string): string =>
  scopedTag('public', `robot:${requireUuid('id', id)}`);

/** The query of a strategies listing, as validated (`limit` a number). */
export interface StrategyListQuery {
  limit?: number;
  cursor?: string;
  fields?: string;
  strategy_type?: StrategyType;
  total?: TotalMode;
}

/** The query of a strategy read by id. */
export interface StrategyDetailQuery {
  fields?: string;
}

/** A query as a key part: absent and `undefined` parameters are the same key. */
function queryPart(query: object): KeyPart {
  return Object.fromEntries(Object.entries(query).filter(([, value]) => value !== undefined));
}

/**
 * Key of a public strategies listing page (the same for every caller).
 *
 * @example
 * ```ts
 * publicStrategiesListKey(); // 'pub:strategies:list:%5B%5D', the first page
 * publicStrategiesListKey({ strategy_type: 'grid' });
 * ```
 */
export function publicStrategiesListKey(query: StrategyListQuery = {}): string {
  return scopedKey('public', 'strategies', 'list', queryPart(query));
}

/**
 * Key of an anonymous caller's search (public strategies only).
 *
 * @example
 * ```ts
 * publicStrategiesSearchKey({ q: 'grid' });
 * ```
 */
export function publicStrategiesSearchKey(query: { q: string } & StrategyListQuery): string {
  return scopedKey('public', 'strategies', 'search', queryPart(query));
}

/**
 * Key of one strategy read by an anonymous caller (public strategies only).
 *
 * @example
 * ```ts
 * publicStrategyKey(robot.strategy_id); // declare it as a robots listing's dependency
 * ```
 */
export function publicStrategyKey(id: string, query: StrategyDetailQuery = {}): string {
  return scopedKey('public', 'strategies', 'get', requireUuid('id', id), queryPart(query));
}

/**
 * Key of a signed-in user's read (own listing, search, or one strategy).
 *
 * @example
 * ```ts
 * userStrategiesKey(userId, 'list', { limit: 10 });
 * ```
 */
export function userStrategiesKey(userId: string, ...parts: (string | object)[]): string {
  return userKey(
    userId.toLowerCase(),
    'strategies',
    ...parts.map((part) => typeof part === 'string' ? part : queryPart(part)),
  );
}

/**
 * The cache tags a strategy write makes stale: its owner's reads, every read of it by id, the
 * public reads when it is or was public, and the robots reads the write changed (a delete sets
 * their `strategy_id` to null). Robots responses carry only `strategy_id`, no strategy data, so
 * creates and updates leave robots reads alone.
 *
 * @example
 * ```ts
 * strategies.write((repo, hooks) => repo.delete(caller, id, hooks), { tags: strategyWriteTags });
 * ```
 */
export function strategyWriteTags(write: StrategyWrite): string[] {
  const { previous, robots, robotsTruncated } = write;
  const tags = new Set([userStrategiesTag(write.user_id), strategyTag(write.id)]);
  if (write.is_public || previous?.is_public) tags.add(PUBLIC_STRATEGIES_TAG);
  for (const robot of robots) {
    // The owner's tag covers every read of a private robot (only its owner can read it: any
    // other caller's copy went when it stopped being public). Public robots are read by anyone.
    tags.add(userRobotsTag(robot.user_id));
    if (robot.is_public) {
      tags.add(robotTag(robot.id));
      tags.add(PUBLIC_ROBOTS_TAG);
    }
  }
  // Some changed robots are not listed: at least drop what every caller sees.
  if (robotsTruncated) tags.add(PUBLIC_ROBOTS_TAG);
  return [...tags];
}

/**
 * The pre-warmable keys a write makes stale. A loader cannot give tags: the cache keeps those of
 * an earlier copy, but a key pre-warmed with none (right after an invalidation deleted it) is
 * stored untagged, so a tag invalidation would miss it: these exact keys are invalidated too. They are the only keys the loaders
 * accept, which keeps this list short.
 *
 * @example
 * ```ts
 * await Promise.all(prewarmableKeysOf(write).map((key) => optimizer.invalidate(key)));
 * ```
 */
export function prewarmableKeysOf(write: StrategyWrite): string[] {
  const { previous } = write;
  const keys = new Set([publicStrategyKey(write.id)]);
  if (write.is_public || previous?.is_public) {
    keys.add(publicStrategiesListKey());
    keys.add(publicStrategiesListKey({ strategy_type: write.strategy_type }));
    if (previous) keys.add(publicStrategiesListKey({ strategy_type: previous.strategy_type }));
  }
  return [...keys];
}

/**
 * The public listing as the route and the loader compute it (read as anon: public rows only).
 *
 * @example
 * ```ts
 * const page = await loadPublicStrategies(repo, { strategy_type: 'grid' });
 * ```
 */
export function loadPublicStrategies(repo: StrategiesRepository, query: StrategyListQuery = {}) {
  return loadPublicListing(repo, query);
}

/**
 * One strategy as an anonymous caller sees it (`null` unless public).
 *
 * @example
 * ```ts
 * const strategy = await loadPublicStrategy(repo, id);
 * ```
 */
export function loadPublicStrategy(
  repo: StrategiesRepository,
  id: string,
  query: StrategyDetailQuery = {},
): Promise<Partial<Strategy> | null> {
  return repo.getById(ANON_CALLER, id, query.fields);
}

const DETAIL_KEY = /^pub:strategies:get:([0-9a-f-]{36}):/;
const registered = new WeakSet<AdvancedBackendOptimizer>();

/**
 * Registers the loaders of the pre-warmable strategies keys on `optimizer`: the first page of
 * the public listing (all types, and each `strategy_type`) and each strategy read by id as
 * anon. Once per optimizer; later calls are no-ops. Call it in any function that declares these
 * keys as `dependencies` or pre-warms them (robots, warmup): loaders live in the isolate.
 *
 * @example
 * ```ts
 * registerStrategyLoaders(advancedBackendOptimizer, getDatabase);
 * ```
 */
export function registerStrategyLoaders(
  optimizer: AdvancedBackendOptimizer = advancedBackendOptimizer,
  db: () => Promise<Database>,
): void {
  if (registered.has(optimizer)) return;
  registered.add(optimizer);
  const repository = async () => new StrategiesRepository(await db());
  for (const strategy_type of [undefined, ...STRATEGY_TYPES]) {
    const query = { strategy_type };
    optimizer.registerLoader(
      publicStrategiesListKey(query),
      async () => loadPublicStrategies(await repository(), query),
    );
  }
  optimizer.registerLoader(DETAIL_KEY, async (key) => {
    const id = DETAIL_KEY.exec(key)![1];
    // Only the canonical key of the whole row; other spellings are not pre-warmed.
    if (publicStrategyKey(id) !== key) throw new Error(`not a pre-warmable key: ${key}`);
    return await loadPublicStrategy(await repository(), id);
  });
}
