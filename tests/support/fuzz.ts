/**
 * A seeded generator of malformed requests over every route of every function the dev server
 * serves, for the fuzz suite. The same seed gives the same requests, so a failure is reproduced
 * by its seed and case number.
 *
 * @module
 */

import { BOGUS_IDS, makeBadBodies, makeBadQueries } from './fuzz_inputs.ts';
import type { Route } from './fuzz_routes.ts';

/** mulberry32: a small, fast, seeded PRNG. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What the generator knows about the world. */
export interface FuzzContext {
  routes: Route[];
  /** Functions whose answers to malformed input may be 2xx (probes like health). */
  lenientFunctions: Set<string>;
  tokens: {
    /** The fuzzer's own signed-in user. */
    attacker: string;
    anon: string;
    /** Tokens that must be refused. */
    bad: Record<string, string>;
  };
  ids: {
    /** Rows of other users (private and public). */
    victims: string[];
    /** The attacker's own rows. */
    own: string[];
  };
}

/** One generated request. */
export interface FuzzCase {
  n: number;
  kind: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  /** `error`: only a 4xx is right. `any`: a documented 2xx is fine too. */
  expect: 'error' | 'any';
  /** Tokens sent, which must never come back. */
  sentTokens: string[];
}

/**
 * Generates `count` requests from `seed`.
 *
 * @example
 * ```ts
 * const cases = generateFuzzCases(20261122, 2000, context);
 * ```
 */
export function generateFuzzCases(seed: number, count: number, ctx: FuzzContext): FuzzCase[] {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const word = () => Math.floor(random() * 36 ** 6).toString(36);
  const routes = ctx.routes;
  const gets = routes.filter((r) => r.method === 'GET');
  const writes = routes.filter((r) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(r.method));
  const withBody = routes.filter((r) => ['POST', 'PUT', 'PATCH'].includes(r.method));
  const strict = (r: Route) => !ctx.lenientFunctions.has(r.fn);
  const anyId = () =>
    pick([
      ...ctx.ids.victims,
      ...ctx.ids.victims.map((id) => id.toUpperCase()),
      ...ctx.ids.own,
      crypto.randomUUID(),
    ]);
  const fill = (path: string, id = anyId()) => path.replace(/:[A-Za-z_]+/g, id);
  const auth = (): { headers: Record<string, string>; tokens: string[] } => {
    const r = random();
    const token = r < 0.7 ? ctx.tokens.attacker : r < 0.9 ? ctx.tokens.anon : undefined;
    return token
      ? { headers: { authorization: `Bearer ${token}` }, tokens: [token] }
      : { headers: {}, tokens: [] };
  };
  const validRobot = () => ({
    name: `fuzz ${word()}`,
    strategy_type: pick(['breakout', 'trend_following', 'mean_reversion']),
    strategy_params: { period: int(1, 50) },
    is_public: false,
  });

  const draws = { pick, int, word, validRobot, ctx };
  const badBodies = makeBadBodies(draws);
  const badQueries = makeBadQueries(draws);

  const cases: FuzzCase[] = [];
  const add = (c: Omit<FuzzCase, 'n'>) => cases.push({ n: cases.length, ...c });
  while (cases.length < count) {
    const r = random();
    if (r < 0.3 && withBody.length) {
      // Bad bodies on write routes, as the attacker on its own rows or another user's.
      const route = pick(withBody);
      const [kind, body, contentType] = pick(badBodies)();
      const a = { headers: { authorization: `Bearer ${ctx.tokens.attacker}` } };
      add({
        kind,
        method: route.method,
        path: fill(route.path, pick([...ctx.ids.own, ...ctx.ids.victims])),
        headers: { ...a.headers, ...(contentType ? { 'content-type': contentType } : {}) },
        body,
        expect: strict(route) ? 'error' : 'any',
        sentTokens: [ctx.tokens.attacker],
      });
    } else if (r < 0.5 && gets.length) {
      const route = pick(gets);
      const [kind, query] = pick(badQueries)();
      const a = auth();
      add({
        kind,
        method: 'GET',
        path: `${fill(route.path)}?${query}`,
        headers: a.headers,
        expect: strict(route) ? 'error' : 'any',
        sentTokens: a.tokens,
      });
    } else if (r < 0.6) {
      const idRoutes = routes.filter((x) => x.path.includes(':'));
      if (!idRoutes.length) continue;
      const route = pick(idRoutes);
      const a = auth();
      add({
        kind: 'bogus-id',
        method: route.method,
        path: fill(route.path, pick(BOGUS_IDS)),
        headers: {
          ...a.headers,
          ...(route.method !== 'GET' && route.method !== 'DELETE'
            ? { 'content-type': 'application/json' }
            : {}),
        },
        body: ['POST', 'PUT', 'PATCH'].includes(route.method)
          ? JSON.stringify({ is_public: true })
          : undefined,
        expect: strict(route) ? 'error' : 'any',
        sentTokens: a.tokens,
      });
    } else if (r < 0.75) {
      // Bad credentials on any route.
      const route = pick(routes);
      const [name, token] = pick(Object.entries(ctx.tokens.bad));
      const header = pick([
        `Bearer ${token}`,
        `Bearer ${token}`,
        `bearer  ${token}`,
        `Basic ${btoa('user:pass')}`,
        'Bearer',
        `Bearer ${token} extra`,
        `Bearer ${'x'.repeat(9000)}`,
      ]);
      const hasBody = ['POST', 'PUT', 'PATCH'].includes(route.method);
      add({
        kind: `jwt:${name}`,
        method: route.method,
        path: fill(route.path, pick(ctx.ids.victims)),
        headers: {
          authorization: header,
          ...(hasBody ? { 'content-type': 'application/json' } : {}),
        },
        body: hasBody ? JSON.stringify(validRobot()) : undefined,
        expect: strict(route) ? 'error' : 'any',
        sentTokens: [token],
      });
    } else if (r < 0.83) {
      // A method the path does not have.
      const route = pick(routes);
      const method = pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'PROPFIND', 'PURGE', 'FOO']);
      const a = auth();
      const path = fill(route.path);
      // `/robots/<id>` matches `/robots/:id`: only a method no route of that shape has is wrong.
      const shape = routes.filter((x) =>
        x.method === method && new RegExp(`^${x.path.replace(/:[^/]+/g, '[^/]+')}$`).test(path)
      );
      if (shape.length) continue;
      add({
        kind: `method:${method}`,
        method,
        path,
        headers: a.headers,
        expect: 'error',
        sentTokens: a.tokens,
      });
    } else if (r < 0.9 && writes.length && ctx.ids.victims.length) {
      // Writes on another user's rows, with bodies that would be valid on one's own.
      const route = pick(writes.filter((w) => w.path.includes(':')));
      if (!route) continue;
      const id = pick(ctx.ids.victims);
      const hasBody = route.method !== 'DELETE';
      add({
        kind: 'cross-user-write',
        method: route.method,
        path: fill(route.path, pick([id, id.toUpperCase()])),
        headers: {
          authorization: `Bearer ${ctx.tokens.attacker}`,
          ...(hasBody ? { 'content-type': 'application/json' } : {}),
        },
        body: hasBody
          ? JSON.stringify(pick([{ is_public: true }, { name: 'pwned' }, { description: 'pwned' }]))
          : undefined,
        expect: strict(route) ? 'error' : 'any',
        sentTokens: [ctx.tokens.attacker],
      });
    } else {
      // Plausible requests (2xx allowed): reads, and writes on the attacker's own rows.
      const route = pick(routes);
      const a = route.method === 'GET' ? auth() : {
        headers: { authorization: `Bearer ${ctx.tokens.attacker}` },
        tokens: [ctx.tokens.attacker],
      };
      const hasBody = ['POST', 'PUT', 'PATCH'].includes(route.method);
      const query = route.path.endsWith('/search') ? `?q=${word()}` : '';
      add({
        kind: 'plausible',
        method: route.method,
        path: `${fill(route.path, route.method === 'GET' ? anyId() : pick(ctx.ids.own))}${query}`,
        headers: { ...a.headers, ...(hasBody ? { 'content-type': 'application/json' } : {}) },
        body: hasBody
          ? JSON.stringify(route.method === 'POST' ? validRobot() : { description: word() })
          : undefined,
        expect: 'any',
        sentTokens: a.tokens,
      });
    }
  }
  return cases;
}
