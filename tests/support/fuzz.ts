/**
 * A seeded generator of malformed requests over every route of every function the dev server
 * serves, for the fuzz suite. The same seed gives the same requests, so a failure is reproduced
 * by its seed and case number.
 *
 * @module
 */

/** A route of a served function, as Hono registered it (`/robots/:id`). */
export interface Route {
  fn: string;
  method: string;
  path: string;
}

/**
 * The routes of every function in `supabase/functions/`, read from the apps themselves in a
 * child process (importing the apps here would start their timers inside the test).
 *
 * @example
 * ```ts
 * const routes = await discoverRoutes(); // [{ fn: 'robots', method: 'GET', path: '/robots/:id' }, ...]
 * ```
 */
export async function discoverRoutes(): Promise<Route[]> {
  const root = new URL('../../', import.meta.url).pathname;
  const code = `
    import { discoverFunctions } from './scripts/dev-server.ts';
    const fns = await discoverFunctions();
    console.log(JSON.stringify(fns.flatMap((f) =>
      f.app.routes.filter((r) => r.method !== 'ALL')
        .map((r) => ({ fn: f.name, method: r.method, path: r.path })))));
    Deno.exit(0);`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ['eval', '--ext=ts', code],
    cwd: root,
    env: { DENO_NO_PACKAGE_JSON: '1', NO_COLOR: '1' },
    clearEnv: false,
    stdout: 'piped',
    stderr: 'piped',
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim().split('\n').at(-1) ?? '';
  if (out.code !== 0 || !text.startsWith('[')) {
    throw new Error(`route discovery failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  const routes = JSON.parse(text) as Route[];
  const seen = new Set<string>();
  return routes.filter((r) => {
    // The optimizer's dashboard page and its static assets (HTML, JS, CSS; query strings ignored)
    // are not JSON API routes: tests/integration/dashboard_test.ts covers them.
    if (r.fn === 'optimizer' && r.path.startsWith('/optimizer/dashboard')) return false;
    const key = `${r.method} ${r.path}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

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

const IMPOSSIBLE_DATES = [
  '2026-02-30T00:00:00Z',
  '2026-13-01T00:00:00Z',
  '2026-01-01T25:00:00Z',
  '2026-01-01T00:60:00Z',
  '0000-01-01T00:00:00Z',
  '9999999-01-01T00:00:00Z',
  'infinity',
  'not a date',
  '',
];

const BOGUS_IDS = [
  'x',
  '0',
  '-1',
  'null',
  'undefined',
  '00000000-0000-0000-0000-00000000000',
  '00000000-0000-0000-0000-0000000000000',
  'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz',
  '%00',
  '%00%00',
  'a%00b',
  '..%2F..%2Fetc%2Fpasswd',
  '%2e%2e',
  "1'%20or%20'1'='1",
  '1;select%20pg_sleep(5)',
  '%F0%9F%92%A5',
  '%ff%fe',
  '%E0%A4%A',
  '{{id}}',
  '%24%7Bjndi%3Aldap%3A%2F%2Fx%7D',
  'a'.repeat(5000),
  '11111111-1111-1111-1111-111111111111%20',
  '%0a11111111-1111-1111-1111-111111111111',
];

const base64url = (text: string) =>
  btoa(String.fromCharCode(...new TextEncoder().encode(text))).replace(/\+/g, '-')
    .replace(/\//g, '_').replace(/=+$/, '');

function nested(depth: number, open: string, close: string, inner = '1'): string {
  return open.repeat(depth) + inner + close.repeat(depth);
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

  /** Bodies that are wrong whatever the route (`[kind, body, contentType]`). */
  const badBodies: (() => [string, string | Uint8Array, string | undefined])[] = [
    () => ['json:truncated', JSON.stringify(validRobot()).slice(0, int(1, 30)), 'application/json'],
    () => ['json:empty', '', 'application/json'],
    () => ['json:trailing', '{"name":"x",}', 'application/json'],
    () => ['json:single-quotes', "{'name':'x'}", 'application/json'],
    () => ['json:two-docs', '{"name":"x"}{"name":"y"}', 'application/json'],
    () => ['json:nan', '{"name":NaN}', 'application/json'],
    () => [
      'json:not-object',
      pick(['[]', '1', '"x"', 'null', 'true', '[{"name":"x"}]']),
      'application/json',
    ],
    () => [
      'json:huge',
      JSON.stringify({ ...validRobot(), description: 'x'.repeat(int(70_000, 300_000)) }),
      'application/json',
    ],
    () => [
      'json:huge-keys',
      JSON.stringify({
        ...validRobot(),
        strategy_params: Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`k${i}`, i])),
      }),
      'application/json',
    ],
    () => [
      'json:deep-object',
      `{"name":"deep","strategy_type":"breakout","strategy_params":${
        nested(int(3_000, 12_000), '{"a":', '}')
      }}`,
      'application/json',
    ],
    () => [
      'json:deep-array',
      `{"name":"deep","strategy_type":"breakout","strategy_params":{"a":${
        nested(int(3_000, 16_000), '[', ']')
      }}}`,
      'application/json',
    ],
    () => ['json:deep-top', nested(int(5_000, 20_000), '[', ']'), 'application/json'],
    () => [
      'json:wrong-types',
      JSON.stringify(pick<Record<string, unknown>>([
        { name: 123, strategy_type: 'breakout' },
        { name: 'x', strategy_type: 5 },
        { name: 'x', strategy_type: 'breakout', is_public: 'yes' },
        { name: 'x', strategy_type: 'breakout', strategy_params: [] },
        { name: 'x', strategy_type: 'breakout', strategy_params: 'p' },
        { name: 'x', strategy_type: 'breakout', strategy_params: null },
        { name: ['x'], strategy_type: 'breakout' },
        { name: { $ne: null }, strategy_type: 'breakout' },
        { name: 'x', strategy_type: 'not-a-type' },
        { name: '', strategy_type: 'breakout' },
        { name: ' '.repeat(10), strategy_type: 'breakout' },
        { name: 'x'.repeat(5000), strategy_type: 'breakout' },
        { name: 'x', strategy_type: 'breakout', strategy_id: 'nope' },
        { name: 'x', strategy_type: 'breakout', strategy_id: crypto.randomUUID() },
      ])),
      'application/json',
    ],
    () => [
      'json:nul',
      JSON.stringify(pick<Record<string, unknown>>([
        { ...validRobot(), name: 'a\u0000b' },
        { ...validRobot(), description: 'a\u0000b' },
        { ...validRobot(), strategy_params: { 'k\u0000': 1 } },
        { ...validRobot(), strategy_params: { k: 'v\u0000' } },
        { name: '\u0000', strategy_type: 'breakout' },
      ])),
      'application/json',
    ],
    () => [
      'json:lone-surrogate',
      pick([
        '{"name":"a\\ud800b","strategy_type":"breakout"}',
        '{"name":"x","strategy_type":"breakout","description":"\\udfff"}',
        '{"name":"x","strategy_type":"breakout","strategy_params":{"\\ud83d":1}}',
      ]),
      'application/json',
    ],
    () => [
      'json:invalid-utf8',
      new Uint8Array([
        ...new TextEncoder().encode('{"name":"'),
        ...pick([[0xff, 0xfe], [0xc3, 0x28], [0xe2, 0x82], [0xf0, 0x28, 0x8c, 0x28], [
          0xed,
          0xa0,
          0x80,
        ]]),
        ...new TextEncoder().encode('","strategy_type":"breakout"}'),
      ]),
      'application/json',
    ],
    () => [
      'json:unknown-field',
      JSON.stringify(pick<Record<string, unknown>>([
        { ...validRobot(), zzz: 1 },
        { ...validRobot(), user_id: pick(ctx.ids.victims) },
        { ...validRobot(), id: pick(ctx.ids.victims) },
        { ...validRobot(), created_at: '2020-01-01T00:00:00Z' },
        { ...validRobot(), role: 'service_role' },
      ])),
      'application/json',
    ],
    () => [
      'json:proto',
      '{"__proto__":{"isService":true},"name":"x","strategy_type":"breakout"}',
      'application/json',
    ],
    () => [
      'content-type',
      JSON.stringify(validRobot()),
      pick([
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/xml',
        'application/json-patch+json',
        'text/html',
        undefined,
      ]),
    ],
    () => [
      'content-type:form',
      `name=x&strategy_type=breakout`,
      'application/x-www-form-urlencoded',
    ],
  ];

  /** Query strings that are wrong on a GET route (`[kind, query]`). */
  const badQueries: (() => [string, string])[] = [
    () => ['query:unknown', `${word()}=${word()}`],
    () => [
      'query:duplicate',
      pick(['limit=1&limit=2', 'fields=id&fields=name', 'q=ab&q=cd', 'cursor=a&cursor=b']),
    ],
    () => [
      'query:cursor',
      `cursor=${
        pick([
          word(),
          base64url(JSON.stringify([pick(IMPOSSIBLE_DATES), crypto.randomUUID()])),
          base64url(JSON.stringify(['2026-01-01T00:00:00Z', 'not-a-uuid'])),
          base64url(JSON.stringify(['2026-01-01T00:00:00Z', pick(ctx.ids.victims), 'extra'])),
          base64url(JSON.stringify({ createdAt: '2026-01-01T00:00:00Z' })),
          base64url('\u0000\u0000'),
          'A'.repeat(600),
          '%00',
          '%ff',
        ])
      }`,
    ],
    () => [
      'query:limit',
      `limit=${
        pick(['-1', '0', '101', '1e309', 'abc', '1.5', '%201', '0x10', '99999999999999999999', ''])
      }`,
    ],
    () => [
      'query:fields',
      `fields=${
        pick([
          'password',
          'id,,name',
          '*',
          'id;drop%20table%20robots',
          'a'.repeat(600),
          'user_id,email',
          '%00',
        ])
      }`,
    ],
    () => ['query:q', `q=${pick(['%00%00', 'a', 'x'.repeat(500), '%00ab', 'ab%00'])}`],
    () => ['query:strategy_type', `strategy_type=${pick(['x', 'BREAKOUT', '%00', "breakout'--"])}`],
    () => ['query:total', `total=${pick(['all', '1', 'EXACT'])}`],
  ];

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
