/**
 * Bare Hono as a function's `index.ts` would serve it (`Deno.serve(app.fetch)`, address from
 * `DENO_SERVE_ADDRESS`): the cold-start reference of bench/hot_path.ts.
 *
 * @module
 */
import { Hono } from 'hono';

const app = new Hono();
app.get('/health', (c) => c.json({ status: 'ok' }));
Deno.serve(app.fetch);
