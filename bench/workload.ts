/**
 * A replayable synthetic workload for cache benchmarks: a seeded PRNG, Zipf-distributed keys,
 * list-then-detail sessions with declared dependencies.
 *
 * - 10,000 detail keys `robot:<i>`, Zipf (s = 1.0) by popularity rank;
 * - 200 list keys `robots:list:<j>`, Zipf (s = 1.0); each list has a featured detail;
 * - a session is either a list-then-detail sequence (60 %): list `j` (declaring the dependency
 *   `strategies:list:<j>`), think time, then the featured detail of `j` (70 %) or a Zipf detail,
 *   then `strategies:list:<j>` (50 %); or a single Zipf detail (40 %).
 *
 * @module
 */

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Samples ranks 0..n-1 with P(rank k) proportional to 1 / (k + 1)^s. */
export function zipfSampler(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) cdf[k] = sum += 1 / (k + 1) ** s;
  for (let k = 0; k < n; k++) cdf[k] /= sum;
  return () => {
    const u = random();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** One request of a session. */
export interface WorkloadRequest {
  key: string;
  dependencies?: string[];
  /** Pause before this request (user think time). */
  thinkMs: number;
}

/** A session: requests made one after another by one user. */
export interface WorkloadSession {
  /** Start, in ms from the beginning of the run. */
  startMs: number;
  requests: WorkloadRequest[];
}

/** Workload parameters. */
export interface WorkloadOptions {
  seed?: number;
  sessions?: number;
  sessionsPerSecond?: number;
  detailKeys?: number;
  listKeys?: number;
  zipfS?: number;
  thinkMs?: number;
}

/**
 * Builds the same sessions for the same options, every time.
 *
 * @example
 * ```ts
 * const sessions = buildWorkload({ seed: 42, sessions: 1000 });
 * ```
 */
export function buildWorkload(options: WorkloadOptions = {}): WorkloadSession[] {
  const random = mulberry32(options.seed ?? 42);
  const detailKeys = options.detailKeys ?? 10_000;
  const listKeys = options.listKeys ?? 200;
  const s = options.zipfS ?? 1.0;
  const thinkMs = options.thinkMs ?? 50;
  const detail = zipfSampler(detailKeys, s, random);
  const list = zipfSampler(listKeys, s, random);
  // Ranks are shuffled into ids so popular keys are not simply the low ids.
  const ids = Array.from({ length: detailKeys }, (_, i) => i);
  for (let i = ids.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [ids[i], ids[j]] = [ids[j], ids[i]];
  }
  const featured = Array.from({ length: listKeys }, () => ids[detail()]);
  const sessions: WorkloadSession[] = [];
  const count = options.sessions ?? 12_000;
  const gapMs = 1000 / (options.sessionsPerSecond ?? 1500);
  for (let i = 0; i < count; i++) {
    const requests: WorkloadRequest[] = [];
    if (random() < 0.6) {
      const j = list();
      requests.push({
        key: `robots:list:${j}`,
        dependencies: [`strategies:list:${j}`],
        thinkMs: 0,
      });
      const item = random() < 0.7 ? featured[j] : ids[detail()];
      requests.push({ key: `robot:${item}`, thinkMs });
      if (random() < 0.5) requests.push({ key: `strategies:list:${j}`, thinkMs });
    } else {
      requests.push({ key: `robot:${ids[detail()]}`, thinkMs: 0 });
    }
    sessions.push({ startMs: i * gapMs, requests });
  }
  return sessions;
}
