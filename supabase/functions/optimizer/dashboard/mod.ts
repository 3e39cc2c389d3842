/**
 * The operator dashboard of the `optimizer` function: the page and its assets, all held as
 * strings in modules (so `supabase functions deploy` bundles them: no file is read at run time),
 * served with a Content-Security-Policy that admits only the function's own script and styles.
 *
 * | route | what |
 * |---|---|
 * | `GET /optimizer/dashboard` | the page (public: it holds no data; the sign-in form asks for a key) |
 * | `GET /optimizer/dashboard/app.js`, `app.css` | the page's script and styles |
 * | `GET /optimizer/dashboard/uplot.js`, `uplot.css` | the vendored chart library (uPlot) |
 *
 * @module
 */
import { DASHBOARD_HTML } from './page.ts';
import { DASHBOARD_CSS } from './style.ts';
import { DASHBOARD_JS } from './client.ts';
import { UPLOT_CSS, UPLOT_JS, UPLOT_VERSION } from './vendor/uplot.ts';

export { OPERATOR_KEY_HEADER, operatorAuthenticate } from './auth.ts';
export { type DashboardHealth, dashboardHealth } from './health.ts';
export { UPLOT_VERSION };

/**
 * The page's Content-Security-Policy: scripts and styles from this function only (no inline
 * script; uPlot sizes its elements through the CSSOM, which `style-src 'self'` permits), data
 * from this function only, no frames, no plugins, no form posts elsewhere.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** A static asset of the dashboard. */
export interface DashboardAsset {
  body: string;
  contentType: string;
}

/** The page and its assets by path under `/optimizer`. */
export const DASHBOARD_ASSETS: Readonly<Record<string, DashboardAsset>> = {
  '/dashboard': { body: DASHBOARD_HTML, contentType: 'text/html; charset=utf-8' },
  '/dashboard/app.js': { body: DASHBOARD_JS, contentType: 'text/javascript; charset=utf-8' },
  '/dashboard/app.css': { body: DASHBOARD_CSS, contentType: 'text/css; charset=utf-8' },
  '/dashboard/uplot.js': { body: UPLOT_JS, contentType: 'text/javascript; charset=utf-8' },
  '/dashboard/uplot.css': { body: UPLOT_CSS, contentType: 'text/css; charset=utf-8' },
};

/**
 * The headers of a dashboard asset: its type, the CSP, no sniffing, no framing, no referrer;
 * the page is never cached (it is small and changes with deploys), assets for 5 minutes.
 *
 * @example
 * ```ts
 * new Response(asset.body, { headers: dashboardHeaders('/dashboard', asset) });
 * ```
 */
export function dashboardHeaders(path: string, asset: DashboardAsset): Record<string, string> {
  return {
    'content-type': asset.contentType,
    'content-security-policy': DASHBOARD_CSP,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cache-control': path === '/dashboard' ? 'no-store' : 'public, max-age=300',
  };
}
