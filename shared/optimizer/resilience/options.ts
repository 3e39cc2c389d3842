/**
 * Options of retries, breakers, throttling, pooling, deduplication and batching
 * (`OptimizationConfig.resilience`), with defaults and their environment variables.
 *
 * @module
 */
import { z } from 'zod';
import type { EnvBinding } from '../env.ts';

/** Schema of `OptimizationConfig.resilience`; every field documents its default. */
export const resilienceOptionsSchema = z.object({
  /** Longest single delay between two attempts, ms. @default 5000 */
  retryMaxDelayMs: z.number().min(0).default(5000),
}).strict();

/** The resilience options, defaults applied. */
export type ResilienceOptions = z.infer<typeof resilienceOptionsSchema>;

/** Environment variables of the resilience options. */
export const resilienceEnvBindings: readonly EnvBinding[] = [
  { env: 'QF_RETRY_MAX_DELAY_MS', path: 'resilience.retryMaxDelayMs', type: 'number' },
];
