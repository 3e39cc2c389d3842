/**
 * Learned co-access: which key tends to be read right after which. When key B is read within
 * `windowMs` after key A in the same scope, the transition A -> B is counted. After A is read,
 * its most frequent successor is predicted when `P(B | A) = count(A -> B) / count(A)` reaches
 * the threshold and A was observed at least `minSamples` times. Counts halve when A's total
 * passes 256, so the model follows changing patterns.
 *
 * Learned per isolate, in memory (a model of a few thousand keys costs little to relearn).
 *
 * @module
 */

interface Node {
  /** Times this key was read and followed by another within the window. */
  total: number;
  successors: Map<string, number>;
  best: string | undefined;
  bestCount: number;
}

const HALVE_AT = 256;

/**
 * Successor model.
 *
 * @example
 * ```ts
 * const p = new Predictor(2000, 0.4, 5, 5000);
 * p.observe('', 'robots:list', 0);
 * p.observe('', 'robot:1', 10);
 * p.predict('robots:list'); // 'robot:1' once seen often enough
 * ```
 */
export class Predictor {
  #windowMs: number;
  #threshold: number;
  #minSamples: number;
  #maxKeys: number;
  #nodes = new Map<string, Node>();
  #lastKey = new Map<string, string>();
  #lastAt = new Map<string, number>();

  constructor(windowMs: number, threshold: number, minSamples: number, maxKeys: number) {
    this.#windowMs = windowMs;
    this.#threshold = threshold;
    this.#minSamples = minSamples;
    this.#maxKeys = maxKeys;
  }

  /** Records a read of `key` in `scope` at `now` (hot path: a few Map operations). */
  observe(scope: string, key: string, now: number): void {
    const previous = this.#lastKey.get(scope);
    if (
      previous !== undefined && previous !== key && now - this.#lastAt.get(scope)! <= this.#windowMs
    ) {
      this.#count(previous, key);
    }
    this.#lastKey.set(scope, key);
    this.#lastAt.set(scope, now);
    if (this.#lastKey.size > this.#maxKeys) {
      const oldest = this.#lastKey.keys().next().value as string;
      this.#lastKey.delete(oldest);
      this.#lastAt.delete(oldest);
    }
  }

  #count(from: string, to: string): void {
    let node = this.#nodes.get(from);
    if (node === undefined) {
      node = { total: 0, successors: new Map(), best: undefined, bestCount: 0 };
      this.#nodes.set(from, node);
      if (this.#nodes.size > this.#maxKeys) {
        this.#nodes.delete(this.#nodes.keys().next().value as string);
      }
    }
    node.total++;
    const count = (node.successors.get(to) ?? 0) + 1;
    node.successors.set(to, count);
    if (count > node.bestCount || node.best === to) {
      node.best = to;
      node.bestCount = count;
    }
    if (node.total >= HALVE_AT) {
      node.total = Math.floor(node.total / 2);
      node.bestCount = 0;
      node.best = undefined;
      for (const [k, c] of node.successors) {
        const half = Math.floor(c / 2);
        if (half === 0) node.successors.delete(k);
        else {
          node.successors.set(k, half);
          if (half > node.bestCount) {
            node.bestCount = half;
            node.best = k;
          }
        }
      }
    }
  }

  /** The likely successor of `key`, or `undefined` below the threshold or the sample minimum. */
  predict(key: string): string | undefined {
    const node = this.#nodes.get(key);
    if (node === undefined || node.total < this.#minSamples || node.best === undefined) {
      return undefined;
    }
    return node.bestCount / node.total >= this.#threshold ? node.best : undefined;
  }

  /** `P(to | from)` as learned (0 when unknown). */
  probability(from: string, to: string): number {
    const node = this.#nodes.get(from);
    return node && node.total > 0 ? (node.successors.get(to) ?? 0) / node.total : 0;
  }

  /** How many keys have learned successors. */
  get size(): number {
    return this.#nodes.size;
  }
}
