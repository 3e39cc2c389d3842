import { lazyFunctionApp } from '../_shared/serve.ts';

// app.ts loads while the server starts listening; warm-up pings do not wait for it (issue 11).
Deno.serve(lazyFunctionApp('strategies', () => import('./app.ts')).fetch);
