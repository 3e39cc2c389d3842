/**
 * The project's cache loaders, registered once per isolate and optimizer by every function that
 * declares pre-warmable keys or pre-warms them: `robots` (its listings declare the strategies
 * they reference as `dependencies`) and `warmup` (the applied pre-warm list). Without a loader
 * in the isolate, a key is never pre-warmed there (`no-loader`).
 *
 * | keys | loader |
 * |---|---|
 * | `pub:strategies:list:...` first page, all types and each type | the public strategies listing |
 * | `pub:strategies:get:<id>:%7B%7D` | one public strategy, as anon |
 * | `pub:robots:list:...` first page, all types and each type | the public robots listing |
 *
 * A folder starting with `_` is not served; each function's own deno.json resolves this file's
 * imports (tests/unit/function_layout_test.ts checks it).
 *
 * @module
 */
import type { Database } from '@shared/db/mod.ts';
import type { AdvancedBackendOptimizer } from '@shared/optimizer/mod.ts';
import { registerStrategyLoaders } from '../strategies/keys.ts';
import { registerRobotLoaders } from '../robots/keys.ts';

/**
 * Registers every loader of the API on `optimizer` (idempotent per optimizer).
 *
 * @example
 * ```ts
 * registerApiLoaders(advancedBackendOptimizer, getDatabase);
 * ```
 */
export function registerApiLoaders(
  optimizer: AdvancedBackendOptimizer,
  db: () => Promise<Database>,
): void {
  registerStrategyLoaders(optimizer, db);
  registerRobotLoaders(optimizer, db);
}
