import { lazyFunctionApp } from '../_shared/serve.ts';

// app.ts loads on the first request that needs it, or after a warm-up ping (issue 11).
Deno.serve(lazyFunctionApp('optimizer', () => import('./app.ts')).fetch);
