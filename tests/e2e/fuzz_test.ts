/**
 * Fuzz: at least 2,000 seeded malformed requests over every route of every function the dev
 * server serves (routes read from the apps), on real PostgreSQL 15 and real Redis through the
 * bridge. Every answer must be JSON, a 4xx for what is malformed (a documented 2xx only for
 * plausible requests), never a 5xx, never a stack trace, never a token or secret, within 2 s; the
 * server must be alive afterwards and no row of another user may have changed.
 *
 * Reproduce one run with `FUZZ_SEED=<seed> npm test -- tests/e2e/fuzz_test.ts`; `FUZZ_VERBOSE=1`
 * prints every wrong answer.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { startDevServer } from '../support/dev_server.ts';
import { databaseUrl, upstashBridge } from '../support/services.ts';
import { type FuzzCase, generateFuzzCases } from '../support/fuzz.ts';
import { discoverRoutes } from '../support/fuzz_routes.ts';
import { anonKey, badTokens, SECRETS, userToken } from '../support/tokens.ts';
import {
  type Answer,
  devServerEnv,
  insertRobots,
  pool,
  send,
  snapshotRows,
} from '../support/trust.ts';

const SEED = Number(Deno.env.get('FUZZ_SEED') ?? 20261122);
const COUNT = 2_000;
const ANSWER_WITHIN_MS = 2_000;
const run = crypto.randomUUID().slice(0, 8);

/** A V8 stack frame, a source position or a module path. */
const STACK =
  /\n\s+at \S|\bat (?:async )?\S+ \([^)]*:\d+:\d+\)|\.(?:ts|js|mjs):\d+:\d+|node_modules\/|file:\/\/\/|ext:\w+\//;

/** What is wrong with one answer, or `undefined`. */
function violation(c: FuzzCase, answer: Answer, secrets: string[]): string | undefined {
  if (answer.status === 0) return `no answer: ${answer.text}`;
  if (answer.status >= 500) return `status ${answer.status}`;
  if (answer.status < 200 || (answer.status >= 300 && answer.status < 400)) {
    return `status ${answer.status}`;
  }
  if (c.expect === 'error' && answer.status < 400) return `status ${answer.status} (expected 4xx)`;
  if (answer.ms > ANSWER_WITHIN_MS) return `answered after ${Math.round(answer.ms)} ms`;
  if (!answer.headers.get('x-request-id')) return 'no x-request-id';
  if (STACK.test(answer.text)) return 'stack trace in the body';
  for (const secret of secrets) {
    if (answer.text.includes(secret)) return `echoes a secret or token (${secret.slice(0, 12)}...)`;
  }
  if (answer.text.length > 0) {
    if (!/application\/json/.test(answer.headers.get('content-type') ?? '')) {
      return `content-type ${answer.headers.get('content-type')}`;
    }
    let body: unknown;
    try {
      body = JSON.parse(answer.text);
    } catch {
      return 'body is not JSON';
    }
    if (answer.status >= 400) {
      const error = (body as { error?: { code?: unknown; message?: unknown } }).error;
      if (typeof error?.code !== 'string' || typeof error?.message !== 'string') {
        return 'error body without error.code and error.message';
      }
    }
  }
  return undefined;
}

Deno.test(`fuzz: ${COUNT} malformed requests (seed ${SEED}) over every route`, async () => {
  const sql = postgres(databaseUrl(), { max: 2, onnotice: () => {} });
  const upstash = upstashBridge();
  const server = await startDevServer(devServerEnv({
    databaseUrl: databaseUrl(),
    upstash,
    cachePrefix: `qf-fuzz-${run}:`,
  }));
  try {
    const routes = await discoverRoutes();
    assert.ok(routes.some((r) => r.fn === 'robots'), 'the robots routes were discovered');
    const victims = [crypto.randomUUID(), crypto.randomUUID()];
    const attacker = crypto.randomUUID();
    const victimRows = [
      ...await insertRobots(sql, victims[0], [
        { name: 'victim private', description: 'v0 secret', is_public: false },
        { name: 'victim public', description: 'v0 public', is_public: true },
      ]),
      ...await insertRobots(sql, victims[1], [
        { name: 'victim two private', description: 'v1 secret', is_public: false },
      ]),
    ];
    const own = await insertRobots(sql, attacker, [
      { name: 'attacker one', is_public: false },
      { name: 'attacker two', is_public: true },
      { name: 'attacker three', is_public: false },
    ]);
    const before = await snapshotRows(sql, victims);
    const bad = await badTokens(victims[0]);
    const cases = generateFuzzCases(SEED, COUNT, {
      routes,
      lenientFunctions: new Set(['health']),
      tokens: { attacker: await userToken(attacker), anon: await anonKey(), bad },
      ids: { victims: victimRows.map((r) => r.id), own: own.map((r) => r.id) },
    });
    assert.ok(cases.length >= 2_000);
    const fixedSecrets = [...SECRETS, upstash.token, databaseUrl(), 'postgres://'];

    const answers = await pool(
      cases.map((c) => () =>
        send(server.base, c.method, c.path, {
          headers: c.headers,
          rawBody: c.body,
          contentType: c.headers['content-type'],
          timeoutMs: 10_000,
        })
      ),
      6,
    );

    const problems: string[] = [];
    const byKind = new Map<string, number>();
    for (const [i, c] of cases.entries()) {
      const secrets = [
        ...fixedSecrets,
        ...c.sentTokens.flatMap((t) => [t, t.split('.')[2] ?? '']).filter((s) => s.length >= 16),
      ];
      const wrong = violation(c, answers[i], secrets);
      if (wrong) {
        byKind.set(c.kind, (byKind.get(c.kind) ?? 0) + 1);
        problems.push(
          `#${c.n} ${c.kind} ${c.method} ${c.path.slice(0, 120)}: ${wrong}: ${
            answers[i].text.slice(0, 160)
          }`,
        );
      }
    }
    if (Deno.env.get('FUZZ_VERBOSE')) console.log(problems.join('\n'));
    const statuses = new Map<number, number>();
    for (const a of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
    // The suite reaches the handlers: plausible requests do succeed.
    assert.ok([...statuses].some(([s, n]) => s >= 200 && s < 300 && n > 0), 'some 2xx answers');

    // Alive, and nobody else's rows changed.
    const health = await send(server.base, 'GET', '/health');
    assert.equal(health.status, 200, `health after the fuzz: ${health.text}`);
    const publicList = await send(server.base, 'GET', '/robots/public', { token: await anonKey() });
    assert.equal(publicList.status, 200, `public listing after the fuzz: ${publicList.text}`);
    assert.equal(await snapshotRows(sql, victims), before, "other users' rows changed");

    assert.deepEqual(
      problems.slice(0, 25),
      [],
      `${problems.length} of ${cases.length} answers were wrong (seed ${SEED}); by kind: ${
        JSON.stringify(Object.fromEntries(byKind))
      }; statuses: ${JSON.stringify(Object.fromEntries(statuses))}`,
    );
  } finally {
    await server.stop();
    await sql.end({ timeout: 5 });
  }
});
