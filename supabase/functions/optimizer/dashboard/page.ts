/**
 * The dashboard's HTML: static markup, no inline script or style (the Content-Security-Policy
 * allows only the function's own `dashboard/*.js` and `*.css`). The script fills it in.
 *
 * @module
 */

/** The page. Asset URLs are relative to `/<functions>/optimizer/dashboard`. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>QuantForge optimizer dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="dashboard/uplot.css">
<link rel="stylesheet" href="dashboard/app.css">
<script src="dashboard/uplot.js" defer></script>
<script src="dashboard/app.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <h1>QuantForge optimizer</h1>
  <div class="toolbar" id="toolbar" hidden>
    <label for="range">Range</label>
    <select id="range">
      <option value="1h">Last hour</option>
      <option value="24h">Last 24 hours</option>
    </select>
    <label class="check"><input type="checkbox" id="auto" checked> Auto-refresh</label>
    <button type="button" id="refresh">Refresh</button>
    <button type="button" id="signout" class="quiet">Sign out</button>
  </div>
</header>
<p class="status" id="status" role="status" aria-live="polite"></p>
<main id="main" tabindex="-1">
<section id="signin" class="panel signin" aria-labelledby="signin-title" hidden>
  <h2 id="signin-title">Sign in</h2>
  <p>This page shows the optimizer's status, metrics, runs and recommendations. Its data is
  for operators only: paste one of the project's service credentials.</p>
  <ul>
    <li>a secret API key <code>sb_secret_...</code> (Project Settings, API Keys), or</li>
    <li>the legacy <code>service_role</code> key, or</li>
    <li>the cron secret (<code>CRON_SECRET</code>).</li>
  </ul>
  <p>The key stays in this browser tab's session storage (gone when the tab closes) and is sent
  only to this function, in a request header, never in a URL. With <code>npm start</code> the
  dev server prints its local secret key.</p>
  <form id="signin-form" autocomplete="off">
    <label for="key">Service key</label>
    <input id="key" name="key" type="password" required spellcheck="false"
      aria-describedby="signin-error">
    <button type="submit">Sign in</button>
    <p id="signin-error" class="error" role="alert"></p>
  </form>
</section>

<div id="dashboard" hidden>
<section class="panel" aria-labelledby="health-title">
  <h2 id="health-title">Health</h2>
  <div class="cards" id="backends"></div>
  <h3>Functions at the last warm-up <span class="muted" id="warmup-at"></span></h3>
  <div class="scroll"><table id="functions">
    <caption class="sr-only">Each function's state at the last warm-up run</caption>
    <thead><tr><th scope="col">Function</th><th scope="col">State</th>
    <th scope="col" class="num">Warm-up latency</th><th scope="col" class="num">HTTP</th></tr></thead>
    <tbody></tbody>
  </table></div>
</section>

<section class="panel" aria-labelledby="alerts-title">
  <h2 id="alerts-title">Active alerts</h2>
  <ul class="alerts" id="alerts"></ul>
</section>

<section class="panel" aria-labelledby="charts-title">
  <h2 id="charts-title">Traffic <span class="muted" id="charts-range"></span></h2>
  <div class="charts">
    <figure class="chart" id="chart-requests" aria-labelledby="chart-requests-title">
      <figcaption id="chart-requests-title">Request rate (requests/min)</figcaption>
      <div class="plot"></div><p class="latest"></p>
    </figure>
    <figure class="chart" id="chart-hits" aria-labelledby="chart-hits-title">
      <figcaption id="chart-hits-title">Cache hit rate by tier (%)</figcaption>
      <div class="plot"></div><p class="latest"></p>
    </figure>
    <figure class="chart" id="chart-latency" aria-labelledby="chart-latency-title">
      <figcaption id="chart-latency-title">Request latency (ms)</figcaption>
      <div class="plot"></div><p class="latest"></p>
    </figure>
    <figure class="chart" id="chart-errors" aria-labelledby="chart-errors-title">
      <figcaption id="chart-errors-title">Error and throttle rates (%)</figcaption>
      <div class="plot"></div><p class="latest"></p>
    </figure>
    <figure class="chart" id="chart-cold" aria-labelledby="chart-cold-title">
      <figcaption id="chart-cold-title">Cold starts</figcaption>
      <div class="plot"></div><p class="latest"></p>
    </figure>
  </div>
</section>

<section class="panel" aria-labelledby="resilience-title">
  <h2 id="resilience-title">Breakers and throttle limits now</h2>
  <div class="scroll"><table id="resilience">
    <caption class="sr-only">Circuit breaker state and throttle limits per resource, this instance</caption>
    <thead><tr><th scope="col">Resource</th><th scope="col">Breaker</th>
    <th scope="col" class="num">Rate limit</th><th scope="col" class="num">Concurrency</th>
    <th scope="col" class="num">In flight</th><th scope="col" class="num">Applied override</th></tr></thead>
    <tbody></tbody>
  </table></div>
</section>

<section class="panel" aria-labelledby="recs-title">
  <h2 id="recs-title">Recommendations</h2>
  <ol class="recs" id="recommendations"></ol>
</section>

<section class="panel" aria-labelledby="runs-title">
  <h2 id="runs-title">Optimizer runs</h2>
  <div class="scroll"><table id="runs">
    <caption class="sr-only">The last runs: what each changed and the measured effect</caption>
    <thead><tr><th scope="col">Started</th><th scope="col">Kind</th><th scope="col">Trigger</th>
    <th scope="col">Status</th><th scope="col">Changes</th><th scope="col" class="num">Estimated gain</th>
    <th scope="col" class="num">Measured effect</th></tr></thead>
    <tbody></tbody>
  </table></div>
</section>
</div>
</main>

<dialog id="confirm" aria-labelledby="confirm-title">
  <form method="dialog">
    <h2 id="confirm-title">Apply recommendation?</h2>
    <p id="confirm-text"></p>
    <ul id="confirm-changes"></ul>
    <div class="actions">
      <button value="cancel" class="quiet">Cancel</button>
      <button value="apply" id="confirm-apply">Apply</button>
    </div>
  </form>
</dialog>
</body>
</html>
`;
