/**
 * The identity of this isolate (one running copy of a function): an id, when it started, and
 * whether it has served a request yet. `coldStart` is true only for the first request.
 *
 * @module
 */

const id = crypto.randomUUID();
const startedAt = Date.now();
let served = 0;

/** What the health check and the `x-instance-id` header report. */
export interface InstanceInfo {
  id: string;
  /** True only while serving the instance's first request. */
  coldStart: boolean;
  startedAt: string;
  uptimeMs: number;
  /** Requests this instance has started serving, the current one included. */
  requests: number;
}

/** Counts a request; returns whether it is the instance's first (a cold start). */
export function markRequest(): boolean {
  served++;
  return served === 1;
}

/**
 * This isolate's identity, as seen by the request with the given cold-start flag.
 *
 * @example
 * ```ts
 * instanceInfo(true).id; // the value of x-instance-id
 * ```
 */
export function instanceInfo(coldStart: boolean): InstanceInfo {
  return {
    id,
    coldStart,
    startedAt: new Date(startedAt).toISOString(),
    uptimeMs: Date.now() - startedAt,
    requests: served,
  };
}

/** The isolate's id. */
export const instanceId: string = id;
