/**
 * The dashboard's script (served as `dashboard/app.js`): plain browser JavaScript, no build
 * step. It keeps the operator's key in `sessionStorage`, sends it in `x-operator-key` to this
 * function's JSON routes, renders with DOM APIs (`textContent`, never `innerHTML`, so no value
 * from the API can inject markup) and draws the charts with the vendored uPlot. Refreshes every
 * 15 s while the tab is visible.
 *
 * Over 400 lines on purpose: it is one browser script in one closure, served as one file with no
 * build step; cutting the string into modules would only hide that its parts share state.
 *
 * @module
 */

/** `dashboard/app.js`. */
export const DASHBOARD_JS = String.raw`'use strict';
(function () {
  var STORAGE_KEY = 'qf.optimizer.operatorKey';
  var HEADER = 'x-operator-key';
  var REFRESH_MS = 15000;
  var base = location.pathname.replace(/\/dashboard\/?$/, '');
  var $ = function (id) { return document.getElementById(id); };
  var charts = {};
  var timer = null;
  var loading = false;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        if (name === 'text') node.textContent = attrs[name];
        else if (name === 'className') node.className = attrs[name];
        else node.setAttribute(name, attrs[name]);
      });
    }
    (children || []).forEach(function (child) {
      if (child !== null && child !== undefined) {
        node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
      }
    });
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function key() { try { return sessionStorage.getItem(STORAGE_KEY); } catch (e) { return null; } }
  function setStatus(text, isError) {
    var s = $('status');
    s.textContent = text;
    s.className = isError ? 'status error' : 'status';
  }
  function fmtTime(iso) {
    if (!iso) return '';
    var d = new Date(iso);
    return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }
  function round(n, digits) {
    var f = Math.pow(10, digits === undefined ? 1 : digits);
    return Math.round(n * f) / f;
  }
  function pct(v) { return v === null || v === undefined ? 'n/a' : round(v * 100, 1) + ' %'; }
  function fmtValue(setting, v) {
    if (v === null || v === undefined) return 'default';
    if (Array.isArray(v)) return v.length + (v.length === 1 ? ' key' : ' keys');
    if (typeof v === 'number' && /ttl|interval/i.test(setting)) return round(v / 1000, 1) + ' s';
    return String(v);
  }

  function ApiError(status, code, message) {
    this.status = status; this.code = code; this.message = message;
  }
  async function api(path, options) {
    var headers = { accept: 'application/json' };
    headers[HEADER] = key() || '';
    if (options && options.body) headers['content-type'] = 'application/json';
    var res = await fetch(base + path, {
      method: (options && options.method) || 'GET',
      headers: headers,
      body: options && options.body ? JSON.stringify(options.body) : undefined,
      cache: 'no-store',
      credentials: 'omit',
    });
    var body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (!res.ok && !(options && options.allow && options.allow.indexOf(res.status) >= 0)) {
      var err = body && body.error ? body.error : {};
      throw new ApiError(res.status, err.code || 'http_' + res.status, err.message || res.statusText);
    }
    return body;
  }

  // ---- sign-in ----
  function showSignedIn(signedIn) {
    $('signin').hidden = signedIn;
    $('dashboard').hidden = !signedIn;
    $('toolbar').hidden = !signedIn;
    document.body.dataset.state = signedIn ? 'signed-in' : 'signed-out';
  }
  function signOut(reason) {
    try { sessionStorage.removeItem(STORAGE_KEY); } catch (e) { /* private mode */ }
    stopTimer();
    showSignedIn(false);
    setStatus('');
    $('signin-error').textContent = reason || '';
    $('key').value = '';
    $('key').focus();
  }
  async function onSignIn(event) {
    event.preventDefault();
    var value = $('key').value.trim();
    if (!value) return;
    $('signin-error').textContent = '';
    try { sessionStorage.setItem(STORAGE_KEY, value); } catch (e) { /* private mode */ }
    try {
      await api('/health', { allow: [503] });
    } catch (e) {
      try { sessionStorage.removeItem(STORAGE_KEY); } catch (e2) { /* private mode */ }
      $('signin-error').textContent = 'Sign-in failed: ' + (e.message || e) + (e.status ? ' (HTTP ' + e.status + ')' : '');
      return;
    }
    $('key').value = '';
    showSignedIn(true);
    $('main').focus();
    await refresh();
  }

  // ---- charts ----
  var CHARTS = {
    requests: { id: 'chart-requests', unit: 'req/min', series: [
      { label: 'Requests/min', stroke: '#1d4ed8', fill: 'rgba(29,78,216,0.10)', pick: function (p) { return p.requests ? p.requestsPerMin : (p.requests === 0 ? 0 : null); } },
    ] },
    hits: { id: 'chart-hits', unit: '%', series: [
      { label: 'All tiers', stroke: '#14213d', pick: function (p) { return p.hitRate === null ? null : round(p.hitRate * 100, 1); } },
      { label: 'Memory', stroke: '#1d4ed8', pick: function (p) { return p.hitRateMemory === null ? null : round(p.hitRateMemory * 100, 1); } },
      { label: 'Redis', stroke: '#0f766e', pick: function (p) { return p.hitRateRedis === null ? null : round(p.hitRateRedis * 100, 1); } },
      { label: 'Stale', stroke: '#b45309', pick: function (p) { return p.hitRateStale === null ? null : round(p.hitRateStale * 100, 1); } },
    ] },
    latency: { id: 'chart-latency', unit: 'ms', series: [
      { label: 'p50', stroke: '#0f766e', pick: function (p) { return p.p50Ms; } },
      { label: 'p95', stroke: '#b42318', pick: function (p) { return p.p95Ms; } },
    ] },
    errors: { id: 'chart-errors', unit: '%', series: [
      { label: 'HTTP 5xx', stroke: '#b42318', pick: function (p) { return p.errorRate === null ? null : round(p.errorRate * 100, 2); } },
      { label: 'Database errors', stroke: '#7c3aed', pick: function (p) { return p.dbErrorRate === null ? null : round(p.dbErrorRate * 100, 2); } },
      { label: 'Throttled', stroke: '#b45309', pick: function (p) { return p.throttleRate === null ? null : round(p.throttleRate * 100, 2); } },
    ] },
    cold: { id: 'chart-cold', unit: '', series: [
      { label: 'Cold starts', stroke: '#7c3aed', fill: 'rgba(124,58,237,0.25)', bars: true, pick: function (p) { return p.coldStarts; } },
    ] },
  };
  function chartWidth(target) { return Math.max(260, Math.floor(target.getBoundingClientRect().width)); }
  function ensureChart(name) {
    if (charts[name] || typeof uPlot === 'undefined') return charts[name];
    var spec = CHARTS[name];
    var target = $(spec.id).querySelector('.plot');
    var series = [{}].concat(spec.series.map(function (s) {
      var out = { label: s.label, stroke: s.stroke, width: 2, spanGaps: false, points: { show: true, size: 4 } };
      if (s.fill) out.fill = s.fill;
      if (s.bars) { out.paths = uPlot.paths.bars({ size: [0.6, 24] }); out.points = { show: false }; }
      if (spec.unit) out.value = function (u, v) { return v === null || v === undefined ? '-' : v + ' ' + spec.unit; };
      return out;
    }));
    charts[name] = new uPlot({
      width: chartWidth(target),
      height: 200,
      series: series,
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(max || 0, 1) * 1.1]; } } },
      axes: [{ stroke: '#4a5566', grid: { stroke: '#e5e9ef' } }, { stroke: '#4a5566', grid: { stroke: '#e5e9ef' }, size: 50 }],
      legend: { live: true },
    }, [[]].concat(spec.series.map(function () { return []; })), target);
    return charts[name];
  }
  function renderCharts(series) {
    var xs = series.points.map(function (p) { return p.t / 1000; });
    $('charts-range').textContent = series.range === '24h' ? '(last 24 h, 15 min steps)' : '(last hour, 1 min steps)';
    Object.keys(CHARTS).forEach(function (name) {
      var spec = CHARTS[name];
      var data = [xs].concat(spec.series.map(function (s) { return series.points.map(s.pick); }));
      var fig = $(spec.id);
      var count = 0;
      var latest = [];
      data.slice(1).forEach(function (values, i) {
        var last = null;
        values.forEach(function (v) { if (v !== null && v !== undefined) { count++; last = v; } });
        latest.push(spec.series[i].label + ' ' + (last === null ? 'no data' : last + (spec.unit ? ' ' + spec.unit : '')));
      });
      fig.dataset.points = String(count);
      fig.querySelector('.latest').textContent = 'Latest: ' + latest.join(', ');
      var chart = ensureChart(name);
      if (chart) chart.setData(data);
    });
  }
  window.addEventListener('resize', function () {
    Object.keys(charts).forEach(function (name) {
      var target = $(CHARTS[name].id).querySelector('.plot');
      charts[name].setSize({ width: chartWidth(target), height: 200 });
    });
  });

  // ---- sections ----
  function renderHealth(health) {
    var cards = $('backends');
    clear(cards);
    health.backends.forEach(function (b) {
      cards.appendChild(el('div', { className: 'card ' + (b.ok ? 'ok' : 'bad'), 'data-backend': b.name }, [
        el('h3', { text: (b.name === 'store' ? 'Key-value store' : 'Database') + (b.backend ? ' (' + b.backend + ')' : '') }),
        el('p', {}, [el('span', { className: 'badge ' + (b.ok ? 'ok-text' : 'bad-text'), text: b.ok ? 'Healthy' : 'Down' }), ' ' + round(b.latencyMs, 1) + ' ms round trip']),
        b.error ? el('p', { className: 'bad-text', text: b.error }) : null,
      ]));
    });
    $('warmup-at').textContent = health.lastWarmup ? '(' + fmtTime(health.lastWarmup.at) + ')' : '';
    var body = $('functions').tBodies[0];
    clear(body);
    if (!health.functions.length) {
      body.appendChild(el('tr', {}, [el('td', { colspan: '4', className: 'muted', text: 'No warm-up run yet: POST /warmup (the cron job runs it every 5 minutes).' })]));
    }
    health.functions.forEach(function (f) {
      var state = !f.ok ? ['Unreachable', 'bad-text'] : f.coldStart ? ['Cold', 'warn-text'] : ['Warm', 'ok-text'];
      body.appendChild(el('tr', {}, [
        el('th', { scope: 'row', text: f.function }),
        el('td', {}, [el('span', { className: 'badge ' + state[1], text: state[0] })]),
        el('td', { className: 'num', text: f.latencyMs === null ? 'n/a' : round(f.latencyMs, 1) + ' ms' }),
        el('td', { className: 'num', text: f.status === null ? '' : String(f.status) }),
      ]));
    });
  }
  function renderAlerts(alerts) {
    var list = $('alerts');
    clear(list);
    if (!alerts || !alerts.length) {
      list.appendChild(el('li', { className: 'none', text: 'No active alerts.' }));
      return;
    }
    alerts.forEach(function (a) {
      list.appendChild(el('li', {}, [
        el('span', { className: 'badge ' + (a.severity === 'critical' ? 'bad-text' : 'warn-text'), text: a.severity }), ' ',
        el('strong', { text: a.metric }), ' ' + a.message + ' ',
        el('span', { className: 'muted', text: 'since ' + fmtTime(a.raisedAt) }),
      ]));
    });
  }
  function renderResilience(status) {
    var body = $('resilience').tBodies[0];
    clear(body);
    var breakers = status.breakers || {};
    var throttle = status.throttle || {};
    var names = Object.keys(breakers).concat(Object.keys(throttle)).filter(function (n, i, all) { return all.indexOf(n) === i; }).sort();
    if (!names.length) {
      body.appendChild(el('tr', {}, [el('td', { colspan: '6', className: 'muted', text: 'No protected resource has been used by this instance yet.' })]));
    }
    names.forEach(function (name) {
      var state = breakers[name] || 'closed';
      var t = throttle[name] || {};
      body.appendChild(el('tr', {}, [
        el('th', { scope: 'row', text: name }),
        el('td', {}, [el('span', { className: 'badge ' + (state === 'closed' ? 'ok-text' : state === 'open' ? 'bad-text' : 'warn-text'), text: state })]),
        el('td', { className: 'num', text: t.rateLimit === undefined ? 'n/a' : String(t.rateLimit) }),
        el('td', { className: 'num', text: t.concurrencyLimit === undefined ? 'n/a' : String(t.concurrencyLimit) }),
        el('td', { className: 'num', text: t.inFlight === undefined ? 'n/a' : String(t.inFlight) }),
        el('td', { className: 'num', text: t.override === null || t.override === undefined ? 'none' : String(t.override) }),
      ]));
    });
  }
  // 'ttlByPrefix.pub:robots:list: 300 s -> 600 s'; lists say how many entries are new.
  function changeText(c) {
    var text = fmtValue(c.setting, c.from) + ' \u2192 ' + fmtValue(c.setting, c.to);
    if (Array.isArray(c.to)) {
      var before = Array.isArray(c.from) ? c.from : [];
      var added = c.to.filter(function (k) { return before.indexOf(k) < 0; }).length;
      text += ' (' + added + ' new)';
    }
    return text;
  }
  function changeList(changes) {
    return el('ul', {}, changes.map(function (c) {
      return el('li', {}, [el('code', { text: c.setting }), ': ' + changeText(c)]);
    }));
  }
  function evidenceItem(e) {
    return el('li', {}, [el('code', { text: e.metric }), ' = ' + e.value + ' ' + e.comparison + ' ' + e.threshold + ' (' + e.window + ')']);
  }
  // Long evidence lists (one line per hot key) show four lines and fold the rest.
  function evidenceList(evidence) {
    var shown = evidence.length > 5 ? evidence.slice(0, 4) : evidence;
    var list = el('ul', {}, shown.map(evidenceItem));
    if (shown.length === evidence.length) return list;
    var rest = evidence.slice(shown.length);
    return el('div', {}, [list, el('details', {}, [
      el('summary', { text: rest.length + ' more' }),
      el('ul', {}, rest.map(evidenceItem)),
    ])]);
  }
  function recButton(id) {
    var buttons = document.querySelectorAll('#recommendations button[data-rec]');
    for (var i = 0; i < buttons.length; i++) if (buttons[i].getAttribute('data-rec') === id) return buttons[i];
    return null;
  }
  function renderRecommendations(recs) {
    var list = $('recommendations');
    // A refresh re-renders the list: keep the keyboard focus on the same recommendation's button.
    var active = document.activeElement;
    var focused = active && active.getAttribute && list.contains(active) ? active.getAttribute('data-rec') : null;
    clear(list);
    if (!recs.length) {
      list.appendChild(el('li', { className: 'muted', text: 'No recommendation: every rule is within its thresholds.' }));
      return;
    }
    recs.forEach(function (r, i) {
      var titleId = 'rec-title-' + i;
      var button = el('button', { type: 'button', 'aria-describedby': titleId, 'data-rec': r.id, text: r.changes.length ? 'Apply' : 'Advice only' });
      if (!r.changes.length) button.disabled = true;
      button.addEventListener('click', function () { confirmApply(r, button); });
      list.appendChild(el('li', { 'data-rec-id': r.id }, [
        el('div', { className: 'rec-head' }, [
          el('span', { className: 'badge sev-' + r.severity, text: r.severity }),
          el('h3', { id: titleId, text: r.title }),
          el('span', { className: 'muted', text: r.area + ' \u00b7 ' + r.id }),
        ]),
        el('p', { text: r.action }),
        el('p', { className: 'muted', text: 'Evidence' }),
        evidenceList(r.evidence),
        r.changes.length ? el('p', { className: 'muted', text: 'Changes' }) : null,
        r.changes.length ? changeList(r.changes) : null,
        r.indexStatements && r.indexStatements.length ? el('ul', {}, r.indexStatements.map(function (s) { return el('li', {}, [el('code', { text: s })]); })) : null,
        el('div', { className: 'rec-foot' }, [button]),
      ]));
    });
    if (focused) { var again = recButton(focused); if (again) again.focus(); }
  }
  function confirmApply(rec, button) {
    var dialog = $('confirm');
    $('confirm-text').textContent = rec.title + ': ' + rec.action + '. The change is bounded and recorded as an optimizer run.';
    var changes = $('confirm-changes');
    clear(changes);
    rec.changes.forEach(function (c) {
      changes.appendChild(el('li', {}, [el('code', { text: c.setting }), ': ' + changeText(c)]));
    });
    dialog.returnValue = '';
    dialog.onclose = async function () {
      // The list may have been re-rendered meanwhile: find the button again.
      button = recButton(rec.id) || button;
      if (dialog.returnValue !== 'apply') { button.focus(); return; }
      button.disabled = true;
      setStatus('Applying ' + rec.id + ' ...');
      try {
        var result = await api('/recommendations/' + encodeURIComponent(rec.id) + '/apply', { method: 'POST', body: {} });
        setStatus('Applied "' + rec.title + '": ' + result.optimizationsApplied.length + ' change(s), recorded as run ' + result.runId + '.');
        document.body.dataset.lastAppliedRun = result.runId || '';
        await refresh(true);
      } catch (e) {
        button.disabled = false;
        setStatus('Could not apply ' + rec.id + ': ' + e.message, true);
        if (e.status === 401) signOut('Your key was refused: sign in again.');
      }
    };
    dialog.showModal();
    $('confirm-apply').focus();
  }
  function renderRuns(runs) {
    var body = $('runs').tBodies[0];
    clear(body);
    if (!runs.length) {
      body.appendChild(el('tr', {}, [el('td', { colspan: '7', className: 'muted', text: 'No run yet: POST /optimizer/run (the cron job runs it every 15 minutes).' })]));
    }
    runs.forEach(function (r) {
      var changes = r.applied && r.applied.length ? changeList(r.applied) : el('span', { className: 'muted', text: r.kind === 'warm' ? 'warm-up' : 'no change' });
      var statusClass = r.status === 'succeeded' ? 'ok-text' : r.status === 'running' ? 'warn-text' : 'bad-text';
      body.appendChild(el('tr', { 'data-run-id': r.id }, [
        el('td', { text: fmtTime(r.startedAt) }),
        el('td', { text: r.kind }),
        el('td', {}, [el('code', { text: r.trigger })]),
        el('td', {}, [el('span', { className: 'badge ' + statusClass, text: r.status })]),
        el('td', {}, [changes]),
        el('td', { className: 'num', text: r.estimatedGainPercent === null ? '' : r.estimatedGainPercent + ' %' }),
        el('td', { className: 'num', text: r.measuredGainPercent === null ? (r.kind === 'optimize' ? 'next run' : '') : r.measuredGainPercent + ' % p95' }),
      ]));
    });
  }

  // ---- refresh ----
  function stopTimer() { if (timer) clearTimeout(timer); timer = null; }
  function schedule() {
    stopTimer();
    if (key() && $('auto').checked) timer = setTimeout(function () { refresh(); }, REFRESH_MS);
  }
  async function refresh(force) {
    if (!key()) return;
    if (loading && !force) return;
    if ((document.hidden || $('confirm').open) && !force) { schedule(); return; }
    loading = true;
    var range = $('range').value;
    var failures = [];
    var step = async function (name, path, render, allow) {
      try {
        render(await api(path, { allow: allow }));
      } catch (e) {
        if (e instanceof ApiError && (e.status === 401 || e.status === 403)) throw e;
        failures.push(name + ': ' + (e.message || e));
      }
    };
    try {
      await Promise.all([
        step('health', '/health', renderHealth, [503]),
        step('status', '/status', function (s) { renderAlerts(s.activeAlerts); renderResilience(s); }),
        step('series', '/series?range=' + range, renderCharts),
        step('recommendations', '/recommendations', function (r) { renderRecommendations(r.recommendations); }),
        step('runs', '/runs?limit=10', function (r) { renderRuns(r.runs); }),
      ]);
      if (failures.length) setStatus('Some data could not be loaded: ' + failures.join('; '), true);
      else setStatus('Updated ' + new Date().toLocaleTimeString() + ($('auto').checked ? '; refreshes every 15 s' : ''));
      document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
    } catch (e) {
      signOut(e.status === 403 ? 'That key is not a service key.' : 'Your key was refused: sign in again.');
    } finally {
      loading = false;
      schedule();
    }
  }

  function start() {
    $('signin-form').addEventListener('submit', onSignIn);
    $('signout').addEventListener('click', function () { signOut(''); });
    $('refresh').addEventListener('click', function () { refresh(true); });
    $('range').addEventListener('change', function () { refresh(true); });
    $('auto').addEventListener('change', schedule);
    document.addEventListener('visibilitychange', function () { if (!document.hidden) refresh(); });
    if (key()) { showSignedIn(true); refresh(true); } else { showSignedIn(false); }
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
`;
