/**
 * A stand-in for the part of the Supabase Management API that `supabase functions deploy
 * --use-api` calls, on a free 127.0.0.1 port, plus an egress trap: a loopback "proxy" that records
 * every connection the CLI tries to make anywhere else.
 *
 * Routes (the shapes are the CLI's generated API types: `V1ProjectWithDatabaseResponse`,
 * `FunctionResponse`, `DeployFunctionResponse`, `BulkUpdateFunctionBody` and its response):
 *
 * | route | answer |
 * |---|---|
 * | `GET /v1/projects/{ref}` | the project, `ACTIVE_HEALTHY` |
 * | `POST /v1/projects/{ref}/functions/deploy?slug=<name>[&bundleOnly=true]` | 201; the multipart upload is recorded |
 * | `PUT /v1/projects/{ref}/functions` | 200; the bulk update (several functions go live at once) is recorded |
 *
 * Anything else, another project ref or a wrong token is recorded in `unexpected` and answered
 * 404 or 401 with the API's `{ message }`, so a CLI that starts calling something new fails the
 * test with the route's name instead of passing silently.
 *
 * @module
 */

/** The `metadata` part of a deploy: where the function's entrypoint and import map are. */
export interface DeployMetadata {
  entrypoint_path: string;
  import_map_path?: string;
  static_patterns?: string[];
  verify_jwt?: boolean;
  name?: string;
}

/** One uploaded file of a deploy, named by its path relative to the project root. */
export interface UploadedFile {
  name: string;
  bytes: number;
  text: string;
}

/** One `POST /v1/projects/{ref}/functions/deploy` as the stand-in received it. */
export interface ReceivedDeploy {
  slug: string;
  metadata: DeployMetadata;
  files: UploadedFile[];
  /** The request body as the CLI sent it (multipart/form-data, no content-encoding). */
  bodyBytes: number;
  /** The same body gzip-compressed (level 6, `CompressionStream`). */
  gzipBytes: number;
  /** The request's `content-encoding` header, if the CLI ever compresses the upload itself. */
  contentEncoding: string | null;
  /** `bundleOnly=true`: uploaded and bundled, made live later by a bulk update. */
  bundleOnly: boolean;
}

/** A running stand-in. */
export interface ManagementApiStandIn {
  /** Base URL, `http://127.0.0.1:<port>` (what the CLI profile's `api_url` points to). */
  url: string;
  /** The project ref it serves (20 lowercase letters). */
  projectRef: string;
  /** The personal access token it accepts (`sbp_` + 40 hex). */
  accessToken: string;
  /** Deploys received, in order. */
  deploys: ReceivedDeploy[];
  /**
   * The slugs of each bulk update, in order: deploying several functions, the CLI uploads each
   * with `bundleOnly=true`, then makes them live in one `PUT /v1/projects/{ref}/functions`.
   */
  bulkUpdates: string[][];
  /** `METHOD /path?query` of every request, in order. */
  requests: string[];
  /** `METHOD /path?query (why)` of every request it did not expect. */
  unexpected: string[];
  /** Stops the server (awaits its shutdown). */
  close(): Promise<void>;
}

/** Options of {@link startManagementApi}. */
export interface ManagementApiOptions {
  /** @default 'qfedgeoptimizerlocal' */
  projectRef?: string;
  /** @default a random `sbp_` token */
  accessToken?: string;
}

function randomAccessToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(20));
  return `sbp_${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

async function gzipSize(body: Uint8Array<ArrayBuffer>): Promise<number> {
  const stream = new Blob([body]).stream().pipeThrough(new CompressionStream('gzip'));
  return (await new Response(stream).arrayBuffer()).byteLength;
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json' },
  });
}

/** `FunctionResponse` of the Management API for a deployed function. */
function functionResponse(deploy: ReceivedDeploy, id: string, version: number, now: number) {
  return {
    id,
    slug: deploy.slug,
    name: deploy.metadata.name ?? deploy.slug,
    status: 'ACTIVE',
    version,
    created_at: now,
    updated_at: now,
    verify_jwt: deploy.metadata.verify_jwt ?? true,
    import_map: Boolean(deploy.metadata.import_map_path),
    entrypoint_path: `file:///src/${deploy.metadata.entrypoint_path}`,
    ...(deploy.metadata.import_map_path
      ? { import_map_path: `file:///src/${deploy.metadata.import_map_path}` }
      : {}),
  };
}

async function receiveDeploy(
  request: Request,
  slug: string,
  bundleOnly: boolean,
): Promise<ReceivedDeploy | string> {
  const body = new Uint8Array(await request.arrayBuffer());
  const form = await new Response(body, {
    headers: { 'content-type': request.headers.get('content-type') ?? '' },
  }).formData().catch(() => undefined);
  if (!form) return 'body is not multipart/form-data';
  const metadataPart = form.get('metadata');
  if (typeof metadataPart !== 'string') return 'no metadata part';
  const metadata = JSON.parse(metadataPart) as DeployMetadata;
  const files: UploadedFile[] = [];
  for (const part of form.getAll('file')) {
    if (typeof part === 'string') return 'a file part without a file name';
    files.push({ name: part.name, bytes: part.size, text: await part.text() });
  }
  return {
    slug,
    metadata,
    files,
    bodyBytes: body.byteLength,
    gzipBytes: await gzipSize(body),
    contentEncoding: request.headers.get('content-encoding'),
    bundleOnly,
  };
}

/**
 * Starts the stand-in on a free 127.0.0.1 port.
 *
 * @example
 * ```ts
 * const api = startManagementApi();
 * // profile file: api_url: ${api.url}; env SUPABASE_ACCESS_TOKEN=${api.accessToken}
 * // supabase functions deploy --use-api --remote=${api.projectRef} --yes
 * console.log(api.deploys.map((d) => [d.slug, d.bodyBytes]), api.unexpected);
 * await api.close();
 * ```
 */
export function startManagementApi(options: ManagementApiOptions = {}): ManagementApiStandIn {
  const projectRef = options.projectRef ?? 'qfedgeoptimizerlocal';
  const accessToken = options.accessToken ?? randomAccessToken();
  const deploys: ReceivedDeploy[] = [];
  const bulkUpdates: string[][] = [];
  const requests: string[] = [];
  const unexpected: string[] = [];
  const deployed = new Map<string, { deploy: ReceivedDeploy; id: string; version: number }>();
  const project = `/v1/projects/${projectRef}`;

  const handler = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const route = `${request.method} ${url.pathname}${url.search}`;
    requests.push(route);
    if (request.headers.get('authorization') !== `Bearer ${accessToken}`) {
      unexpected.push(`${route} (no or wrong access token)`);
      return json({ message: 'Unauthorized' }, 401);
    }
    const now = Date.now();
    if (request.method === 'GET' && url.pathname === project) {
      return json({
        id: projectRef,
        ref: projectRef,
        organization_id: 'quantforge',
        organization_slug: 'quantforge',
        name: 'quantforge-edge-optimizer',
        region: 'eu-central-1',
        created_at: new Date(0).toISOString(),
        status: 'ACTIVE_HEALTHY',
        database: {
          host: `db.${projectRef}.supabase.co`,
          version: '15.8.1.085',
          postgres_engine: '15',
          release_channel: 'ga',
        },
      });
    }
    if (request.method === 'POST' && url.pathname === `${project}/functions/deploy`) {
      const slug = url.searchParams.get('slug') ?? '';
      if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(slug)) {
        unexpected.push(`${route} (slug ${JSON.stringify(slug)})`);
        return json({ message: 'Invalid slug' }, 400);
      }
      const bundleOnly = url.searchParams.get('bundleOnly') === 'true';
      const received = await receiveDeploy(request, slug, bundleOnly);
      if (typeof received === 'string') {
        unexpected.push(`${route} (${received})`);
        return json({ message: received }, 400);
      }
      deploys.push(received);
      const id = deployed.get(slug)?.id ?? crypto.randomUUID();
      const version = (deployed.get(slug)?.version ?? 0) + 1;
      deployed.set(slug, { deploy: received, id, version });
      return json(functionResponse(received, id, version, now), 201);
    }
    if (request.method === 'PUT' && url.pathname === `${project}/functions`) {
      const body = await request.json().catch(() => undefined);
      const items = Array.isArray(body) ? body as { slug?: unknown }[] : undefined;
      const slugs = items?.map((item) => item?.slug);
      const unknown = slugs?.filter((slug) => typeof slug !== 'string' || !deployed.has(slug));
      if (!slugs || unknown!.length) {
        unexpected.push(`${route} (not an array of deployed functions: ${JSON.stringify(body)})`);
        return json({ message: 'Invalid bulk update' }, 400);
      }
      bulkUpdates.push(slugs as string[]);
      return json({
        functions: (slugs as string[]).map((slug) => {
          const { deploy, id, version } = deployed.get(slug)!;
          return functionResponse(deploy, id, version, now);
        }),
      });
    }
    unexpected.push(route);
    return json({ message: `Cannot ${request.method} ${url.pathname}` }, 404);
  };

  const server = Deno.serve({ hostname: '127.0.0.1', port: 0, onListen: () => {} }, handler);
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    projectRef,
    accessToken,
    deploys,
    bulkUpdates,
    requests,
    unexpected,
    close: () => server.shutdown(),
  };
}

/** A loopback listener given to a child process as its HTTP(S) proxy. */
export interface EgressTrap {
  /** `http://127.0.0.1:<port>`, for `HTTP_PROXY` / `HTTPS_PROXY`. */
  url: string;
  /** The first line of every connection made through it (e.g. `CONNECT host:443 HTTP/1.1`). */
  attempts: string[];
  /** Stops listening and waits for the connections it is closing. */
  close(): Promise<void>;
}

/**
 * Starts an egress trap: every connection is recorded by its first line and closed unanswered,
 * so a child process pointed at it (with `NO_PROXY` for loopback) reaches nothing outside.
 *
 * @example
 * ```ts
 * const trap = startEgressTrap();
 * // env: HTTP_PROXY=trap.url HTTPS_PROXY=trap.url NO_PROXY=127.0.0.1,localhost
 * await trap.close();
 * assert.deepEqual(trap.attempts, []);
 * ```
 */
export function startEgressTrap(): EgressTrap {
  const listener = Deno.listen({ hostname: '127.0.0.1', port: 0 });
  const attempts: string[] = [];
  const open = new Set<Promise<void>>();
  const conns = new Set<Deno.Conn>();
  const record = async (conn: Deno.Conn) => {
    try {
      const buffer = new Uint8Array(1024);
      const read = await conn.read(buffer);
      const text = new TextDecoder().decode(buffer.subarray(0, read ?? 0));
      attempts.push(text.split('\r\n')[0] || '(a connection that sent nothing)');
    } catch {
      attempts.push('(a connection that failed before its first line)');
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch {
        // already closed (by the peer or by close())
      }
    }
  };
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        conns.add(conn);
        const handling = record(conn);
        open.add(handling);
        handling.finally(() => open.delete(handling));
      }
    } catch {
      // the listener was closed
    }
  })();
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    attempts,
    close: async () => {
      listener.close();
      await accepting;
      for (const conn of conns) conn.close(); // a connection that never sent its first line

      await Promise.all(open);
    },
  };
}
