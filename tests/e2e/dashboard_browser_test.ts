/**
 * The operator dashboard in a real browser: Debian's headless Chromium driven by
 * `playwright-core` (`executablePath: /usr/bin/chromium`, no browser download) against the dev
 * server with real Redis (through the Upstash REST bridge) and real PostgreSQL 15, after a
 * scripted workload (warm-up, robots reads, `POST /optimizer/run`).
 *
 * It proves: the page loads without a console error or CSP violation and shows only the
 * sign-in without a key; a wrong key is refused on the page; the local secret key signs in
 * (sent in a header, never in a URL); health, charts (data points), breakers, runs and
 * recommendations render; a recommendation applied from the page with the keyboard (confirmed
 * in the dialog) is recorded as a run and appears in the runs table; the layout fits a phone's
 * width. With `UPDATE_SCREENSHOT=1` it writes docs/dashboard.png.
 */
import assert from 'node:assert/strict';
import { chromium, type ConsoleMessage, type Page } from 'playwright-core';
import { signLocalJwt } from '../../shared/http/auth.ts';
import { LOCAL_SECRET_KEY } from '../../scripts/local_keys.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../../scripts/services/chromium.ts';
import { type DevServer, startDevServer } from '../support/dev_server.ts';
import { redisUrl } from '../support/services.ts';
import { startRedisBridge } from '../../scripts/redis-bridge.ts';
import { withIsolatedDatabase } from '../support/isolated_database.ts';

const CRON_SECRET = 'e2e-dashboard-cron-secret';
const cron = { 'x-cron-secret': CRON_SECRET, 'content-type': 'application/json' };
const SCREENSHOT = new URL('../../docs/dashboard.png', import.meta.url).pathname;
/** The whole test stays within this bound (the browser and the server are stopped then). */
const TEST_BOUND_MS = 60_000;

async function json(server: DevServer, path: string, init: RequestInit = {}) {
  const res = await fetch(`${server.base}${path}`, {
    ...init,
    headers: { ...cron, ...init.headers },
  });
  const body = await res.json();
  assert.ok(res.ok, `${path}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

async function workload(server: DevServer): Promise<void> {
  await json(server, '/warmup', { method: 'POST', body: JSON.stringify({ trigger: 'e2e' }) });
  const anon = await signLocalJwt({ role: 'anon' });
  // One hot prefix (the public listing): 30 distinct pages, twice each.
  for (let round = 0; round < 2; round++) {
    for (let limit = 1; limit <= 30; limit++) {
      const res = await fetch(`${server.base}/robots/public?limit=${limit}`, {
        headers: { authorization: `Bearer ${anon}` },
      });
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }
  }
  await json(server, '/warmup', { method: 'POST', body: JSON.stringify({ trigger: 'e2e' }) });
  const run = await json(server, '/optimizer/run', {
    method: 'POST',
    body: JSON.stringify({ trigger: 'e2e-workload' }),
  });
  assert.equal(run.success, true, JSON.stringify(run.errors));
}

/** What the in-page functions read (Deno's types have no DOM). */
interface PageGlobals {
  document: {
    documentElement: { scrollWidth: number; clientWidth: number };
    dispatchEvent(event: Event): boolean;
  };
}

async function pointsOf(page: Page, chart: string): Promise<number> {
  return Number(await page.getAttribute(`#chart-${chart}`, 'data-points'));
}

Deno.test('e2e dashboard: sign-in, health, charts with data, apply a recommendation as a run, in headless Chromium', async () => {
  // A database of its own: the runs drain the shared invalidation outbox other tests watch.
  await withIsolatedDatabase('dashboard_e2e', browserTest);
});

/**
 * Redis logical database of this test: the dev server's optimizer uses the default `qf:` keys
 * (settings, metrics), which other end-to-end tests' dev servers read on database 0.
 */
const REDIS_DB = 9;

async function browserTest(databaseUrl: string): Promise<void> {
  const bridge = await startRedisBridge({
    redisUrl: `${redisUrl()}/${REDIS_DB}`,
    token: `dashboard-${crypto.randomUUID()}`,
  });
  const server = await startDevServer({
    CRON_SECRET,
    LOCAL_CRON: 'off',
    SUPABASE_DB_URL: databaseUrl,
    UPSTASH_REDIS_REST_URL: bridge.url,
    UPSTASH_REDIS_REST_TOKEN: bridge.token,
  }).catch(async (error) => {
    await bridge.close();
    throw error;
  });
  const userDataDir = await Deno.makeTempDir({ prefix: 'qf-chromium-' });
  let context: Awaited<ReturnType<typeof chromium.launchPersistentContext>> | undefined;
  let bound: ReturnType<typeof setTimeout> | undefined;
  const stopAll = async () => {
    await context?.close().catch(() => {});
    await server.stop().catch(() => 1);
    await bridge.close();
    await Deno.remove(userDataDir, { recursive: true }).catch(() => {});
  };
  const timedOut = new Promise<never>((_, reject) => {
    bound = setTimeout(
      () => reject(new Error(`the dashboard test took more than ${TEST_BOUND_MS} ms`)),
      TEST_BOUND_MS,
    );
  });
  try {
    await Promise.race([
      timedOut,
      (async () => {
        await workload(server);

        context = await chromium.launchPersistentContext(userDataDir, {
          executablePath: CHROMIUM_PATH,
          headless: true,
          args: [...CHROMIUM_ARGS],
          viewport: { width: 1280, height: 900 },
        });
        const page = context.pages()[0] ?? await context.newPage();
        page.setDefaultTimeout(15_000);
        const consoleErrors: string[] = [];
        page.on('console', (m: ConsoleMessage) => {
          if (m.type() === 'error') consoleErrors.push(m.text());
        });
        page.on('pageerror', (e: Error) => consoleErrors.push(`pageerror: ${e.message}`));
        const requested: string[] = [];
        const failed: string[] = [];
        page.on('response', (r) => {
          if (r.status() >= 400) failed.push(`${r.status()} ${new URL(r.url()).pathname}`);
        });
        const keyHeaders: string[] = [];
        page.on('request', (r) => {
          requested.push(r.url());
          const key = r.headers()['x-operator-key'];
          if (key) keyHeaders.push(key);
        });

        // Without a key: only the sign-in.
        const dashboardUrl = `${server.base}/optimizer/dashboard`;
        const response = await page.goto(dashboardUrl);
        assert.equal(response?.status(), 200);
        assert.match(response?.headers()['content-security-policy'] ?? '', /script-src 'self'/);
        await page.waitForSelector('#signin:not([hidden])');
        assert.equal(await page.isVisible('#dashboard'), false);
        assert.equal(await page.isVisible('#toolbar'), false);
        assert.equal(await page.getAttribute('body', 'data-state'), 'signed-out');

        // A wrong key is refused on the page.
        await page.fill('#key', 'sb_secret_not-the-right-key');
        await page.press('#key', 'Enter');
        await page.waitForSelector('#signin-error:has-text("failed")');
        assert.equal(await page.isVisible('#dashboard'), false);

        // The local secret key signs in; everything renders.
        keyHeaders.length = 0;
        await page.fill('#key', LOCAL_SECRET_KEY);
        await page.click('#signin-form button[type=submit]');
        await page.waitForSelector('#dashboard:not([hidden])');
        await page.waitForSelector('body[data-loaded]');
        assert.equal(
          await page.textContent('#status').then((s) => /could not/i.test(s ?? '')),
          false,
        );
        assert.equal(await page.locator('#backends .card.ok').count(), 2);
        assert.ok(await page.locator('#functions tbody th').count() >= 3, 'functions listed');
        assert.ok(await pointsOf(page, 'requests') > 0, 'request-rate chart has points');
        assert.ok(await pointsOf(page, 'latency') > 0, 'latency chart has points');
        assert.ok(await pointsOf(page, 'hits') > 0, 'hit-rate chart has points');
        assert.equal(await page.locator('.chart canvas').count() >= 5, true, 'five uPlot canvases');
        assert.ok(await page.locator('#runs tbody tr[data-run-id]').count() >= 1, 'runs listed');
        assert.ok(await page.locator('#resilience tbody tr').count() >= 1);

        // The key went in a header, never in a URL; it is in the tab's session storage only.
        assert.ok(keyHeaders.length > 0 && keyHeaders.every((k) => k === LOCAL_SECRET_KEY));
        assert.ok(requested.every((u) => !u.includes(LOCAL_SECRET_KEY)), 'key never in a URL');
        assert.equal(
          await page.evaluate(() => sessionStorage.getItem('qf.optimizer.operatorKey')),
          LOCAL_SECRET_KEY,
        );
        assert.equal(await page.evaluate(() => localStorage.length), 0);

        // Apply a recommendation from the page, with the keyboard, confirmed in the dialog.
        const button = page.locator('#recommendations button[data-rec]:not([disabled])').first();
        await button.waitFor();
        const recId = await button.getAttribute('data-rec');
        assert.ok(recId, 'an applicable recommendation is listed');

        // A refresh re-renders the list and keeps the keyboard focus on the same button.
        await button.focus();
        const loads = Number(await page.getAttribute('body', 'data-loaded'));
        await page.evaluate(() =>
          (globalThis as unknown as PageGlobals).document.dispatchEvent(
            new Event('visibilitychange'),
          )
        );
        await page.waitForSelector(`body:not([data-loaded="${loads}"])`);
        assert.equal(
          await page.locator(`#recommendations button[data-rec="${recId}"]:focus`).count(),
          1,
        );

        // The 24 h range: 15 min steps, the workload's step holds data.
        await page.selectOption('#range', '24h');
        await page.waitForSelector('#charts-range:has-text("24 h")');
        await page.waitForSelector(`body:not([data-loaded="${loads + 1}"])`);
        assert.ok(await pointsOf(page, 'requests') > 0, '24 h request-rate chart has points');
        await page.selectOption('#range', '1h');
        await page.waitForSelector('#charts-range:has-text("last hour")');
        if (Deno.env.get('UPDATE_SCREENSHOT') === '1') {
          await page.screenshot({ path: SCREENSHOT, fullPage: true });
        }
        await button.focus();
        await page.keyboard.press('Enter');
        await page.waitForSelector('#confirm[open]');
        assert.equal(await page.locator('#confirm-apply:focus').count(), 1, 'Apply has the focus');
        await page.keyboard.press('Enter');
        await page.waitForSelector('body[data-last-applied-run]:not([data-last-applied-run=""])');
        const runId = await page.getAttribute('body', 'data-last-applied-run');
        assert.ok(runId);
        await page.waitForSelector(`#runs tr[data-run-id="${runId}"]`);
        const row = await page.textContent(`#runs tr[data-run-id="${runId}"]`);
        assert.ok(row?.includes(`apply:${recId}`), row ?? '');
        const runs = await json(server, '/optimizer/runs?kind=optimize&limit=50');
        const recorded = runs.runs.find((r: { id: string }) => r.id === runId);
        assert.ok(recorded, 'the applied recommendation is recorded as a run');
        assert.equal(recorded.trigger, `apply:${recId}`);
        assert.equal(recorded.details.recommendationId, recId);
        assert.ok(recorded.applied.length > 0);

        // A phone's width: no horizontal scrolling of the page.
        await page.setViewportSize({ width: 390, height: 844 });
        await page.waitForTimeout(100);
        const overflow = await page.evaluate(() => {
          const root = (globalThis as unknown as PageGlobals).document.documentElement;
          return root.scrollWidth - root.clientWidth;
        });
        assert.ok(overflow <= 0, `page overflows a 390 px screen by ${overflow} px`);

        // Signing out forgets the key.
        await page.setViewportSize({ width: 1280, height: 900 });
        await page.click('#signout');
        await page.waitForSelector('#signin:not([hidden])');
        assert.equal(
          await page.evaluate(() => sessionStorage.getItem('qf.optimizer.operatorKey')),
          null,
        );
        // The only failed request is the wrong key's (Chromium logs it as a console error).
        assert.deepEqual(failed, ['401 /functions/v1/optimizer/health']);
        assert.deepEqual(consoleErrors, [
          'Failed to load resource: the server responded with a status of 401 (Unauthorized)',
        ]);
      })(),
    ]);
  } finally {
    clearTimeout(bound);
    await stopAll();
  }
}
