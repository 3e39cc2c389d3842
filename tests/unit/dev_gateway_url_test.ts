/**
 * The dev gateway's URL rewrite (issue 11: sliced as a string instead of a URL object per
 * request) routes exactly as the URL-based rewrite did: same function, same forwarded URL, dot
 * segments and escapes normalized, query kept. A plain path is not rebuilt at all: the request is
 * handed to the function as it came, and the apps route on it without `/functions/v1`.
 */
import assert from 'node:assert/strict';
import { forwardedUrl } from '../../scripts/dev-server.ts';

/** The previous rewrite: parse, match the pathname, replace it. */
function byUrlObject(input: string): { name: string; url: string } | null {
  const url = new URL(input);
  const match = /^\/functions\/v1\/([^/]+)(\/.*)?$/.exec(url.pathname);
  if (!match) return null;
  url.pathname = `/${match[1]}${match[2] ?? ''}`;
  return { name: match[1], url: url.href };
}

Deno.test('dev gateway: forwardedUrl routes as the URL-based rewrite did', () => {
  const inputs = [
    'http://127.0.0.1:54321/functions/v1/robots/public?limit=5',
    'http://127.0.0.1:54321/functions/v1/robots?x=1',
    'http://127.0.0.1:54321/functions/v1/robots',
    'http://127.0.0.1:54321/functions/v1/robots/',
    'http://127.0.0.1:54321/functions/v1/',
    'http://127.0.0.1:54321/functions/v1',
    'http://127.0.0.1:54321/',
    'http://127.0.0.1:54321/other/path',
    'http://127.0.0.1:54321/functions/v1/robots/../health/x?y=1',
    'http://127.0.0.1:54321/functions/v1/robots/./public',
    'http://127.0.0.1:54321/functions/v1/robots/%2e%2e/health',
    'http://127.0.0.1:54321/functions/v1/robots/a%20b?q=%2e',
    'http://127.0.0.1:54321/functions/v1/robots/public?a=b/c&d=/functions/v1/x',
    'http://localhost/functions/v1/health?',
  ];
  const REBUILT = [
    'http://127.0.0.1:54321/functions/v1/robots/../health/x?y=1',
    'http://127.0.0.1:54321/functions/v1/robots/./public',
    'http://127.0.0.1:54321/functions/v1/robots/%2e%2e/health',
    'http://127.0.0.1:54321/functions/v1/robots/a%20b?q=%2e',
  ];
  for (const input of inputs) {
    const forwarded = forwardedUrl(input);
    const expected = byUrlObject(input);
    assert.deepEqual(forwarded && { name: forwarded.name, url: forwarded.url }, expected, input);
    // Only a path the URL parser changes is rebuilt; a plain one is handed over as it came.
    if (forwarded) assert.equal(forwarded.rebuilt, REBUILT.includes(input), input);
  }
  assert.equal(forwardedUrl('not a url'), undefined);
});
