/**
 * The dev server's gateway: finds the functions (`supabase/functions/<name>/app.ts`) and routes
 * `/functions/v1/<name>/...` to `<name>`'s app as `/<name>/...`, as Supabase's gateway does.
 *
 * @module
 */
import type { Hono } from 'hono';
import { functionPath } from '../../shared/http/app.ts';

const functionsDir = new URL('../../supabase/functions/', import.meta.url);

/** A function's name and its Hono app. */
export interface FunctionApp {
  name: string;
  app: Hono;
}

/** A function whose app is imported on its first request (or by {@link LazyFunctionApp.load}). */
export interface LazyFunctionApp {
  name: string;
  /** Imports the app once; later calls return the same promise. */
  load(): Promise<Hono>;
}

/**
 * The names of the function folders (those with an `app.ts`), sorted.
 *
 * @example
 * ```ts
 * await functionNames(); // ['health', 'optimizer', 'robots', ...]
 * ```
 */
export async function functionNames(dir: URL = functionsDir): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isDirectory || entry.name.startsWith('_') || entry.name.startsWith('.')) continue;
    try {
      await Deno.stat(new URL(`${entry.name}/app.ts`, dir));
      names.push(entry.name);
    } catch {
      // A folder without app.ts is not a function (shared helpers, fixtures).
    }
  }
  return names.sort();
}

async function importApp(name: string, dir: URL): Promise<Hono> {
  const module = await import(new URL(`${name}/app.ts`, dir).href);
  if (!module.app || typeof module.app.fetch !== 'function') {
    throw new Error(`supabase/functions/${name}/app.ts must export 'app' (a Hono app)`);
  }
  return module.app as Hono;
}

/**
 * Every function, its app imported on first use: the dev server answers before every app is
 * loaded (a function's first request waits for its own app only).
 *
 * @example
 * ```ts
 * const functions = await discoverLazyFunctions();
 * await Promise.all(functions.map((f) => f.load())); // all loaded
 * ```
 */
export async function discoverLazyFunctions(dir: URL = functionsDir): Promise<LazyFunctionApp[]> {
  return (await functionNames(dir)).map((name) => {
    let loading: Promise<Hono> | undefined;
    return { name, load: () => loading ??= importApp(name, dir) };
  });
}

/**
 * Every function folder with an `app.ts` exporting `app`, sorted by name, imported.
 *
 * @example
 * ```ts
 * const functions = await discoverFunctions();
 * ```
 */
export async function discoverFunctions(dir: URL = functionsDir): Promise<FunctionApp[]> {
  const apps: FunctionApp[] = [];
  for (const name of await functionNames(dir)) apps.push({ name, app: await importApp(name, dir) });
  return apps;
}

/** Methods no function answers; `new Request()` refuses to rebuild TRACE, TRACK and CONNECT. */
const REFUSED_METHODS = new Set(['TRACE', 'TRACK', 'CONNECT']);

/** The caller's `x-request-id` when it looks like one, else a new uuid. */
function requestIdOf(request: Request): string {
  const given = request.headers.get('x-request-id');
  return given && /^[\w.:-]{1,128}$/.test(given) ? given : crypto.randomUUID();
}

/** A JSON error answered by the gateway itself, with the ids and CORS a function would send. */
function gatewayError(
  requestId: string,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return Response.json({ error: { code, message, requestId } }, {
    status,
    headers: {
      'access-control-allow-origin': '*',
      'access-control-expose-headers': 'x-request-id',
      'x-request-id': requestId,
      ...headers,
    },
  });
}

const FUNCTIONS_PATH = /^\/functions\/v1\/([^/]+)(\/.*)?$/;

/**
 * The function's URL for a gateway URL: `http://h/functions/v1/robots/x?q` becomes
 * `{ name: 'robots', url: 'http://h/robots/x?q' }`; `null` when the path is not under
 * `/functions/v1/<name>`, `undefined` when it is no URL. A plain path is sliced as a string (no
 * URL object per request); one with dots, percent escapes or backslashes is normalized by `URL`
 * first, as before.
 */
export function forwardedUrl(
  url: string,
): { name: string; url: string; rebuilt: boolean } | null | undefined {
  const parts = urlParts(url);
  if (!parts) return undefined;
  const match = FUNCTIONS_PATH.exec(parts.pathname);
  if (!match) return null;
  return {
    name: match[1],
    url: `${parts.origin}/${match[1]}${match[2] ?? ''}${parts.search}`,
    rebuilt: !parts.plain,
  };
}

/**
 * The origin, path and query of a URL as `URL` gives them; a plain path (no dots, escapes or
 * backslashes, which `URL` would normalize) is sliced as a string, without a `URL` object.
 * `plain` says which. `undefined` when it is no URL.
 */
export function urlParts(
  url: string,
): { origin: string; pathname: string; search: string; plain: boolean } | undefined {
  const scheme = url.indexOf('://');
  const pathStart = scheme < 0 ? -1 : url.indexOf('/', scheme + 3);
  const queryStart = url.indexOf('?', pathStart);
  const pathEnd = queryStart < 0 ? url.length : queryStart;
  if (pathStart > 0 && !/[.%\\#]/.test(url.slice(pathStart, pathEnd))) {
    return {
      origin: url.slice(0, pathStart),
      pathname: url.slice(pathStart, pathEnd),
      search: url.slice(pathEnd),
      plain: true,
    };
  }
  try {
    const parsed = new URL(url);
    return {
      origin: parsed.origin,
      pathname: parsed.pathname,
      search: parsed.search,
      plain: false,
    };
  } catch {
    return undefined;
  }
}

/**
 * The gateway: `/functions/v1/<name>/rest` goes to `<name>`'s app as `/<name>/rest`. Every
 * answer it makes itself is JSON with an `x-request-id`: 404 for
 * an unknown path or function, 405 for TRACE/TRACK/CONNECT, 400 for a request it cannot rebuild,
 * 500 (no details) if a function throws instead of answering.
 *
 * @example
 * ```ts
 * const handler = createGateway(await discoverFunctions());
 * Deno.serve({ port: 54321 }, handler);
 * ```
 */
export function createGateway(functions: (FunctionApp | LazyFunctionApp)[]): Deno.ServeHandler {
  const byName = new Map<string, Hono | (() => Promise<Hono>)>(
    functions.map((f) => [f.name, 'app' in f ? f.app : f.load]),
  );
  const names = () => [...byName.keys()].join(', ');
  /** A function's app took the request, or threw instead of answering: a JSON 500. */
  const served = (
    name: string,
    app: Hono,
    request: Request,
    target: { url: string; rebuilt: boolean },
    info: Deno.ServeHandlerInfo,
    id: () => string,
  ): Response | Promise<Response> => {
    let forwarded = request;
    // A plain path goes as it came to an app that routes without `/functions/v1`
    // (`createFunctionApp`'s `functionPath`); else one copy of the request (headers, body
    // stream, signal) under the function's URL, as Supabase's gateway hands it over.
    if (target.rebuilt || app.getPath !== functionPath) {
      try {
        forwarded = new Request(target.url, request);
      } catch {
        return gatewayError(id(), 400, 'bad_request', 'The request cannot be forwarded');
      }
    }
    const threw = (error: unknown) => {
      console.error(`[quantforge] gateway: ${name} threw (request ${id()}):`, error);
      return gatewayError(id(), 500, 'internal_error', 'Internal error');
    };
    try {
      // Answered as the app answers: a Response as it is, a promise without another await.
      const answer = app.fetch(forwarded, info);
      return answer instanceof Promise ? answer.catch(threw) : answer;
    } catch (error) {
      return threw(error);
    }
  };
  return (request, info) => {
    // Only the gateway's own answers need an id (a function makes its own): made when needed.
    let requestId: string | undefined;
    const id = () => requestId ??= requestIdOf(request);
    if (REFUSED_METHODS.has(request.method.toUpperCase())) {
      return gatewayError(
        id(),
        405,
        'method_not_allowed',
        `Method ${request.method} is not allowed`,
        { allow: 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS' },
      );
    }
    const target = forwardedUrl(request.url);
    if (target === undefined) {
      return gatewayError(id(), 400, 'bad_request', 'The request URL cannot be parsed');
    }
    if (target === null) {
      return gatewayError(
        id(),
        404,
        'function_not_found',
        `No route for this path: functions are served at /functions/v1/<name> (${names()})`,
      );
    }
    const entry = byName.get(target.name);
    if (!entry) {
      return gatewayError(
        id(),
        404,
        'function_not_found',
        `No function of that name. Functions here: ${names()}`,
      );
    }
    if (typeof entry !== 'function') return served(target.name, entry, request, target, info, id);
    // First request of a lazily loaded function: import it, then keep the app itself.
    return Promise.resolve().then(entry).then(
      (app) => {
        byName.set(target.name, app);
        return served(target.name, app, request, target, info, id);
      },
      (error) => {
        console.error(
          `[quantforge] gateway: ${target.name} failed to load (request ${id()}):`,
          error,
        );
        return gatewayError(id(), 500, 'internal_error', 'Internal error');
      },
    );
  };
}
