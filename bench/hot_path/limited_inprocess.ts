/**
 * CPU per request of a rate-limited answer in one process: `createFunctionApp` + `authenticate`
 * + `rateLimitByCaller` (memory store) + `c.json` of five rows, 20,000 requests per round, six
 * rounds (the first left out). Run it on this tree and on an export of another (`git archive
 * <rev> shared deno.json | tar -x -C /tmp/x && ln -s $PWD/node_modules /tmp/x/`), alternated:
 *
 * ```sh
 * taskset -c 0 env DENO_NO_PACKAGE_JSON=1 ./node_modules/.bin/deno run -A --config deno.json \
 *   bench/hot_path/limited_inprocess.ts [$PWD | /tmp/x]
 * ```
 *
 * @module
 */
const root = Deno.args[0] ?? new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const { createFunctionApp } = await import(`${root}/shared/http/app.ts`);
const { authenticate } = await import(`${root}/shared/http/auth.ts`);
const { rateLimitByCaller } = await import(`${root}/shared/http/rate_limit.ts`);
const { MemoryStore } = await import(`${root}/shared/store/mod.ts`);
const noEnv = () => undefined;
const app = createFunctionApp('demo');
app.use('*', authenticate({ env: noEnv }));
app.use('*', rateLimitByCaller({ env: noEnv, store: new MemoryStore(), anonLimit: 1_000_000 }));
const body = { items: Array.from({ length: 5 }, (_, i) => ({ id: i, name: 'robot ' + i })) };
app.get('/ok', (c: { json(value: unknown): Response }) => c.json(body));
const cpu = () => {
  const s = Deno.readTextFileSync('/proc/self/stat').split(') ')[1].split(' ');
  return (Number(s[11]) + Number(s[12])) * 10;
};
const info = { remoteAddr: { hostname: '127.0.0.1', port: 1, transport: 'tcp' } };
const out = [];
for (let round = 0; round < 6; round++) {
  const reqs = Array.from({ length: 20000 }, () => new Request('http://h/demo/ok'));
  const c0 = cpu();
  for (const r of reqs) await (await app.fetch(r, info)).arrayBuffer();
  if (round > 0) out.push(((cpu() - c0) * 1000 / reqs.length).toFixed(1));
}
console.log(root, out.join(' '));
Deno.exit(0);
