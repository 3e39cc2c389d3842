/**
 * Issue 8 finding 9 end to end: real supabase-js against the dev server over HTTP, invoking every
 * function with a region (`x-region` header + `?forceFunctionRegion=`), and a browser's CORS
 * preflight naming `x-region`.
 */
import assert from 'node:assert/strict';
import { createClient } from '@supabase/supabase-js';
import { startDevServer } from '../support/dev_server.ts';

Deno.test('supabase-js with a functions region reaches every function through the dev server', async () => {
  const server = await startDevServer();
  try {
    const anonKey = /anon key:\s+(eyJ\S+)/.exec(server.banner)?.[1];
    assert.ok(anonKey, server.banner);
    const supabase = createClient(`http://127.0.0.1:${server.port}`, anonKey, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    });
    const functions = [];
    for await (const entry of Deno.readDir(new URL('../../supabase/functions/', import.meta.url))) {
      if (entry.isDirectory && !entry.name.startsWith('_')) functions.push(entry.name);
    }
    const secretKey = /secret key:\s+(sb_secret_\S+)/.exec(server.banner)?.[1];
    assert.ok(secretKey, server.banner);
    // Service functions answer a secret key only (cron and operators).
    const service = createClient(`http://127.0.0.1:${server.port}`, secretKey, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    });
    const paths: Record<string, string> = {
      robots: 'robots/public?limit=1',
      strategies: 'strategies/public?limit=1',
      optimizer: 'optimizer/status',
      warmup: 'warmup/__warmup',
    };
    const serviceOnly = new Set(['optimizer', 'warmup']);
    for (const name of functions.sort()) {
      const client = serviceOnly.has(name) ? service : supabase;
      const { data, error } = await client.functions.invoke(paths[name] ?? name, {
        method: 'GET',
        region: 'eu-central-1' as never,
      });
      assert.equal(error, null, `${name}: ${error} ${JSON.stringify(data)}`);
      const preflight = await fetch(`${server.base}/${name}`, {
        method: 'OPTIONS',
        headers: {
          origin: 'http://localhost:3000',
          'access-control-request-method': 'GET',
          'access-control-request-headers': 'authorization, apikey, x-client-info, x-region',
        },
      });
      await preflight.body?.cancel();
      assert.ok(preflight.status < 300, `${name}: preflight ${preflight.status}`);
      assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /x-region/, name);
    }
  } finally {
    await server.stop();
  }
});
