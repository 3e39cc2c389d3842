/**
 * A counting proxy in front of an Upstash REST bridge: every HTTP request a client sends reaches
 * it first, is counted (requests, Redis commands, command names) and forwarded unchanged. Store
 * cost is then measured where Upstash bills it, at the REST endpoint, whatever client sent it
 * (`UpstashStore`, `@upstash/ratelimit`, a raw `@upstash/redis`). Loopback only.
 *
 * @module
 */

/** What the proxy saw since the last {@link CountingBridge.reset}. */
export interface BridgeCounts {
  /** HTTP requests (one per command, pipeline or transaction). */
  requests: number;
  /** Redis commands inside them. */
  commands: number;
  /** One entry per request: its commands' names joined with `+` (`EVALSHA`, `GET+GET`). */
  names: string[];
}

/** A running proxy. */
export interface CountingBridge {
  /** Use as `UPSTASH_REDIS_REST_URL`. */
  url: string;
  token: string;
  readonly counts: BridgeCounts;
  /** Zeroes the counts. */
  reset(): void;
  /** Stops the proxy. */
  close(): Promise<void>;
}

/**
 * Starts a counting proxy on a free `127.0.0.1` port in front of `target`.
 *
 * @example
 * ```ts
 * const counter = startCountingBridge(upstashBridge());
 * const store = new UpstashStore({ url: counter.url, token: counter.token });
 * await store.get('k');
 * counter.counts.requests; // 1
 * await counter.close();
 * ```
 */
export function startCountingBridge(
  target: { url: string; token: string },
): CountingBridge {
  const counts: BridgeCounts = { requests: 0, commands: 0, names: [] };
  const base = target.url.replace(/\/$/, '');
  const server = Deno.serve(
    { hostname: '127.0.0.1', port: 0, onListen: () => {} },
    async (request) => {
      const url = new URL(request.url);
      const body = request.method === 'GET' ? undefined : await request.text();
      let commands: unknown[][] = [];
      try {
        const parsed = JSON.parse(body ?? '[]');
        commands = /\/(pipeline|multi-exec)$/.test(url.pathname) ? parsed : [parsed];
      } catch {
        // Not JSON: forwarded as is, counted as one request without commands.
      }
      counts.requests++;
      counts.commands += commands.length;
      counts.names.push(commands.map((c) => String(c?.[0] ?? '?').toUpperCase()).join('+'));
      const headers = new Headers(request.headers);
      headers.delete('host');
      const answer = await fetch(`${base}${url.pathname}${url.search}`, {
        method: request.method,
        headers,
        body,
      });
      return new Response(await answer.arrayBuffer(), {
        status: answer.status,
        headers: answer.headers,
      });
    },
  );
  const address = server.addr as Deno.NetAddr;
  return {
    url: `http://127.0.0.1:${address.port}`,
    token: target.token,
    counts,
    reset() {
      counts.requests = 0;
      counts.commands = 0;
      counts.names = [];
    },
    async close() {
      await server.shutdown();
    },
  };
}
