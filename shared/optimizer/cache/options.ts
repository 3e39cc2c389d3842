/**
 * Options of the predictive cache (`OptimizationConfig.cache`), with defaults and their
 * environment variables.
 *
 * @module
 */
import { z } from 'zod';
import type { EnvBinding } from '../env.ts';

/** Schema of `OptimizationConfig.cache`; every field documents its default. */
export const cacheOptionsSchema = z.object({
  /** Entries the memory tier holds at most. @default 5000 */
  memoryMaxEntries: z.number().int().min(1).default(5000),
}).strict();

/** The cache options, defaults applied. */
export type CacheOptions = z.infer<typeof cacheOptionsSchema>;

/** Environment variables of the cache options. */
export const cacheEnvBindings: readonly EnvBinding[] = [
  { env: 'QF_CACHE_MEMORY_MAX_ENTRIES', path: 'cache.memoryMaxEntries', type: 'number' },
];
