/**
 * The robots function's pre-warmable keys: the public listing's first pages (its loader), and
 * the strategies a listing references, declared as the listing's `dependencies`. Other
 * functions (warmup) import this file, not app.ts, through `supabase/functions/_shared/loaders.ts`.
 *
 * @module
 */
import { loadPublicListing } from '@shared/http/resource_reads.ts';
import {
  type Database,
  RobotsRepository,
  STRATEGY_TYPES,
  type StrategyType,
} from '@shared/db/mod.ts';
import { type AdvancedBackendOptimizer, scopedKey } from '@shared/optimizer/mod.ts';
import { publicStrategyKey } from '../strategies/keys.ts';

/** Most strategies one listing declares as dependencies (the first distinct ones, in order). */
export const MAX_STRATEGY_DEPENDENCIES = 5;

/** The query of a robots listing, as validated (`limit` a number). */
export interface RobotListQuery {
  limit?: number;
  cursor?: string;
  fields?: string;
  strategy_type?: StrategyType;
  total?: 'exact' | 'estimated' | 'none';
}

/**
 * Key of a public robots listing page (the same for every caller); the route and the loader
 * both build it here, so that a pre-warmed page is the page the route reads.
 *
 * @example
 * ```ts
 * publicRobotsListKey(); // the first page, all types
 * publicRobotsListKey({ strategy_type: 'grid' });
 * ```
 */
export function publicRobotsListKey(query: RobotListQuery = {}): string {
  const part = Object.fromEntries(Object.entries(query).filter(([, v]) => v !== undefined));
  return scopedKey('public', 'robots', 'list', part);
}

/**
 * The public listing as the route computes it (read as anon: public rows only).
 *
 * @example
 * ```ts
 * const page = await loadPublicRobots(repo, { strategy_type: 'grid' });
 * ```
 */
export function loadPublicRobots(repo: RobotsRepository, query: RobotListQuery = {}) {
  return loadPublicListing(repo, query);
}

/**
 * The public strategy keys a listing references: the first {@link MAX_STRATEGY_DEPENDENCIES}
 * distinct `strategy_id`s of its items (none when the listing did not select `strategy_id`).
 *
 * @example
 * ```ts
 * strategyDependencies(page.items); // ['pub:strategies:get:<id>:%7B%7D', ...]
 * ```
 */
export function strategyDependencies(
  items: readonly { strategy_id?: string | null }[] | undefined,
  max = MAX_STRATEGY_DEPENDENCIES,
): string[] {
  const keys: string[] = [];
  const seen = new Set<string>();
  for (const item of items ?? []) {
    if (keys.length >= max) break;
    const id = item?.strategy_id;
    if (typeof id !== 'string' || seen.has(id)) continue;
    seen.add(id);
    try {
      keys.push(publicStrategyKey(id));
    } catch {
      // Not a uuid: nothing to pre-warm.
    }
  }
  return keys;
}

const registered = new WeakSet<AdvancedBackendOptimizer>();

/**
 * Registers the loaders of the public robots listing's first page (all types, and each
 * `strategy_type`) on `optimizer`. Once per optimizer; later calls are no-ops.
 *
 * @example
 * ```ts
 * registerRobotLoaders(advancedBackendOptimizer, getDatabase);
 * ```
 */
export function registerRobotLoaders(
  optimizer: AdvancedBackendOptimizer,
  db: () => Promise<Database>,
): void {
  if (registered.has(optimizer)) return;
  registered.add(optimizer);
  const repositories = new WeakMap<Database, RobotsRepository>();
  const repository = async () => {
    const opened = await db();
    let repo = repositories.get(opened);
    if (!repo) repositories.set(opened, repo = new RobotsRepository(opened));
    return repo;
  };
  for (const strategy_type of [undefined, ...STRATEGY_TYPES]) {
    const query = { strategy_type };
    optimizer.registerLoader(
      publicRobotsListKey(query),
      async () => loadPublicRobots(await repository(), query),
    );
  }
}

/**
 * The pre-warmable listing keys a public write makes stale: the first page of all types and of
 * each given type (every type for `'all'`). A loader knows no tags, so a page pre-warmed right
 * after an invalidation is stored untagged and a tag invalidation would miss it: writes
 * invalidate these exact keys too (as strategies does with its own).
 *
 * @example
 * ```ts
 * prewarmableRobotKeys([robot.strategy_type]); // [all types, grid]
 * ```
 */
export function prewarmableRobotKeys(
  types: readonly (StrategyType | undefined)[] | 'all',
): string[] {
  const listed = types === 'all' ? STRATEGY_TYPES : types;
  return [
    ...new Set(
      [undefined, ...listed].map((strategy_type) => publicRobotsListKey({ strategy_type })),
    ),
  ];
}
