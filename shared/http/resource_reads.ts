/**
 * The listing reads both resource functions (`robots`, `strategies`) and their loaders compute
 * alike: {@link pageOf} (the paging part of a listing query) and {@link loadPublicListing} (the
 * public listing, read as anon). Kept apart from `resource_app.ts` so that a function importing
 * only keys and loaders (`warmup`) does not load the app's middleware.
 *
 * @module
 */
import type { Caller } from '../db/caller.ts';
import type { PageOptions, TotalMode } from '../db/pagination.ts';
import { ANON_CALLER } from './caller.ts';

/** A listing query as validated (`listingQuerySchemas(...).list`). */
export interface ListingQuery {
  limit?: number;
  cursor?: string;
  fields?: string;
  strategy_type?: string;
  total?: TotalMode;
}

/**
 * The paging part of a listing query, as the repositories' `list` takes it.
 *
 * @example
 * ```ts
 * repo.list(caller, { ...pageOf(query), filters: { ownerId: userId } });
 * ```
 */
export function pageOf(
  { limit, cursor, fields, total }: ListingQuery,
): Pick<PageOptions, 'limit' | 'cursor' | 'total'> & { fields?: string } {
  return { limit, cursor, fields, total };
}

/** The filters both listings (robots, strategies) accept from a route. */
export interface ListingFilters {
  ownerId?: string;
  isPublic?: boolean;
  strategyType?: string;
}

/** A repository with a listing (robots, strategies). */
interface ListingRepository<Page> {
  list(
    caller: Caller,
    options: PageOptions & { fields?: string; filters?: ListingFilters },
  ): Promise<Page>;
}

/**
 * The public listing as its route and its loader compute it (read as anon: public rows only),
 * so that a pre-warmed page is the page the route reads.
 *
 * @example
 * ```ts
 * const page = await loadPublicListing(new RobotsRepository(db), { strategy_type: 'grid' });
 * ```
 */
export function loadPublicListing<Page>(
  repo: ListingRepository<Page>,
  query: ListingQuery = {},
): Promise<Page> {
  return repo.list(ANON_CALLER, {
    ...pageOf(query),
    filters: { isPublic: true, strategyType: query.strategy_type },
  });
}
