/**
 * The malformed inputs of the fuzz generator (`fuzz.ts`): impossible dates, bogus ids, and the
 * bad bodies and query strings as thunks that draw from the generator's seeded PRNG when called
 * (building the lists draws nothing, so the sequence of a seed is unchanged).
 *
 * @module
 */
import type { FuzzContext } from './fuzz.ts';

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

/** Ids that are not a robot's or a strategy's in any spelling. */
export const BOGUS_IDS = [
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

/** What the bad inputs draw from: the generator's seeded helpers and its context. */
export interface InputDraws {
  pick: <T>(items: readonly T[]) => T;
  int: (lo: number, hi: number) => number;
  word: () => string;
  validRobot: () => Record<string, unknown>;
  ctx: FuzzContext;
}

/** Bodies that are wrong whatever the route (`[kind, body, contentType]`). */
export function makeBadBodies(
  { pick, int, validRobot, ctx }: InputDraws,
): (() => [string, string | Uint8Array, string | undefined])[] {
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
  return badBodies;
}

/** Query strings that are wrong on a GET route (`[kind, query]`). */
export function makeBadQueries({ pick, word, ctx }: InputDraws): (() => [string, string])[] {
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
  return badQueries;
}
