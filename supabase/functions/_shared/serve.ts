/**
 * How a function's `index.ts` serves its `app.ts` (issue 11: cold start). The app module, with
 * everything its routes import (the optimizer, the manager, the database driver, zod schemas),
 * is loaded by a dynamic `import()` instead of before the server listens:
 *
 * - a warm-up ping (`GET|POST|HEAD /<fn>/__warmup`, or any path with `x-warmup: 1`) is answered
 *   by a bare function app (the same shared middleware and ping answer as the full app:
 *   `createFunctionApp`), without waiting for the app; the app then loads in the background, so
 *   the instance the warming run keeps alive is ready for its next request;
 * - every other request waits for the app and is handed to it unchanged (`app.fetch(request,
 *   info)`, as `Deno.serve(app.fetch)` did).
 *
 * For the functions whose first call is usually a warm-up ping or a cron call that can wait
 * (optimizer, warmup). A function whose first request needs the app anyway (health, robots,
 * strategies) imports it statically: start-up is CPU-bound, so loading it behind the listener
 * gains nothing there, and the second module graph cost about 4 ms (docs/performance.md). A failed
 * load answers a JSON 500 and is retried on the next request. Routes stay in `app.ts`, which tests
 * and the dev server import directly.
 *
 * The `import()` in `index.ts` must name `./app.ts` as a string literal: the deploy bundles only
 * statically analysable imports (a computed specifier works locally and fails once deployed,
 * supabase/supabase#19125); tests/e2e/deploy_test.ts checks that the CLI uploads the app's graph.
 *
 * A folder starting with `_` is not served; each function's own deno.json resolves this file's
 * imports (tests/unit/function_layout_test.ts checks it).
 *
 * @module
 */
import { createFunctionApp } from '@shared/http/app.ts';
import { runInBackground } from '@shared/runtime/background.ts';

/** What `app.ts` exports, as far as serving goes. */
export interface ServedModule {
  app: {
    fetch(request: Request, env?: unknown): Response | Promise<Response>;
  };
}

/** The handler {@link lazyFunctionApp} returns. */
export interface LazyFunctionApp {
  /** `Deno.serve`'s handler. */
  fetch(request: Request, info?: unknown): Promise<Response>;
  /** Whether the app module has loaded (tests, diagnostics). */
  readonly loaded: boolean;
  /** Resolves once the app has loaded (starts loading it if needed). */
  ready(): Promise<void>;
}

const PING_METHODS = new Set(['GET', 'POST', 'HEAD']);

/**
 * A `Deno.serve` handler for function `name` that answers warm-up pings at once and loads the
 * app (`load`, a dynamic import of `./app.ts`) when a request needs it.
 *
 * @example
 * ```ts
 * // In supabase/functions/optimizer/index.ts, `loadApp` is a dynamic import of its app.ts (not
 * // spelled out here: the Supabase CLI reads import specifiers in comments too).
 * Deno.serve(lazyFunctionApp('optimizer', loadApp).fetch);
 * ```
 */
export function lazyFunctionApp(
  name: string,
  load: () => Promise<ServedModule>,
): LazyFunctionApp {
  // The ping answer and its headers come from the same middleware as the full app's, so a ping
  // counts as this isolate's first request for both (`coldStart`, `edge.warmup_pings.cold`).
  const shell = createFunctionApp(name);
  let failure: unknown;
  shell.all('*', () => {
    throw failure;
  });
  const pingPath = `/${name}/__warmup`;
  let app: ServedModule['app'] | undefined;
  let loading: Promise<ServedModule['app']> | undefined;

  const start = (): Promise<ServedModule['app']> => {
    loading ??= load().then(
      (module) => app = module.app,
      (error) => {
        loading = undefined;
        throw error;
      },
    );
    return loading;
  };
  const isPing = (request: Request): boolean =>
    PING_METHODS.has(request.method) &&
    (request.headers.get('x-warmup') === '1' || new URL(request.url).pathname === pingPath);

  return {
    async fetch(request: Request, info?: unknown): Promise<Response> {
      if (app) return await app.fetch(request, info);
      if (isPing(request)) {
        const answer = await shell.fetch(request, info);
        runInBackground(() => start(), `loading the ${name} app`);
        return answer;
      }
      let loaded: ServedModule['app'];
      try {
        loaded = await start();
      } catch (error) {
        failure = error;
        return await shell.fetch(request, info);
      }
      return await loaded.fetch(request, info);
    },
    get loaded() {
      return app !== undefined;
    },
    async ready() {
      await start();
    },
  };
}
