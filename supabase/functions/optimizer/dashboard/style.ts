/**
 * The dashboard's stylesheet: system fonts, a light theme with WCAG AA contrast (text
 * #1b2330 on #ffffff 15.8:1, muted #4a5566 7.5:1), one column on narrow screens.
 *
 * @module
 */

/** `dashboard/app.css`. */
export const DASHBOARD_CSS = `
:root {
  --bg: #f3f5f8; --panel: #ffffff; --text: #1b2330; --muted: #4a5566; --line: #d5dbe3;
  --accent: #1d4ed8; --ok: #116a37; --warn: #8a4b00; --bad: #b42318; --focus: #f59e0b;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
  font-size: 15px; line-height: 1.45; color: var(--text); background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; }
.skip { position: absolute; left: -9999px; }
.skip:focus { left: 8px; top: 8px; background: #fff; padding: 6px 10px; z-index: 10; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
.top { display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between;
  gap: 8px 16px; padding: 12px 20px; background: #14213d; color: #fff; }
.top h1 { margin: 0; font-size: 1.25rem; font-weight: 650; }
.toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; }
.toolbar[hidden] { display: none; }
.toolbar label { font-size: .9rem; }
.toolbar select, .toolbar button { font: inherit; }
.check { display: inline-flex; align-items: center; gap: 4px; }
button { font: inherit; padding: 6px 14px; border-radius: 6px; border: 1px solid var(--accent);
  background: var(--accent); color: #fff; cursor: pointer; }
button:hover { background: #1e40af; }
button:disabled { background: #e5e7eb; color: #4a5566; border-color: #c4cad3; cursor: not-allowed; }
button.quiet { background: transparent; color: inherit; border-color: currentColor; }
.top button.quiet:hover { background: rgba(255,255,255,.12); }
select, input[type=password] { font: inherit; padding: 5px 8px; border: 1px solid #8a94a3;
  border-radius: 6px; background: #fff; color: var(--text); }
.status { margin: 0; padding: 6px 20px; min-height: 1.9em; font-size: .9rem; color: var(--muted); }
.status.error { color: var(--bad); font-weight: 600; }
main { padding: 0 20px 32px; max-width: 1400px; margin: 0 auto; }
main:focus { outline: none; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 10px;
  padding: 14px 18px; margin: 0 0 16px; }
.panel h2 { margin: 0 0 10px; font-size: 1.1rem; }
.panel h3 { margin: 14px 0 6px; font-size: 1rem; }
.muted { color: var(--muted); font-weight: 400; font-size: .9rem; }
.signin { max-width: 640px; margin: 24px auto; }
.signin form { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; }
.signin input { flex: 1 1 260px; }
.error { color: var(--bad); margin: 4px 0 0; flex-basis: 100%; min-height: 1.2em; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 10px; }
.card { border: 1px solid var(--line); border-left: 6px solid var(--muted); border-radius: 8px;
  padding: 8px 12px; }
.card.ok { border-left-color: var(--ok); }
.card.bad { border-left-color: var(--bad); }
.card h3 { margin: 0; font-size: .95rem; }
.card p { margin: 2px 0 0; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: .8rem;
  font-weight: 650; border: 1px solid currentColor; white-space: nowrap; }
.ok-text { color: var(--ok); } .bad-text { color: var(--bad); } .warn-text { color: var(--warn); }
.sev-critical, .sev-high { color: var(--bad); } .sev-medium { color: var(--warn); }
.sev-low { color: var(--muted); }
.scroll { overflow-x: auto; }
/* Wide tables scroll in their box on a phone instead of squeezing each cell to a word. */
#runs { min-width: 760px; } #resilience { min-width: 560px; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 650; color: var(--muted); font-size: .85rem; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td ul { margin: 0; padding-left: 16px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); gap: 14px; }
.chart { margin: 0; min-width: 0; }
.chart figcaption { font-weight: 650; margin-bottom: 4px; }
.plot { min-height: 200px; }
.latest { margin: 2px 0 0; color: var(--muted); font-size: .85rem; }
details { margin: 0 0 4px 16px; }
summary { cursor: pointer; color: var(--accent); font-size: .9rem; }
.alerts, .recs { list-style: none; margin: 0; padding: 0; }
.alerts li { border-left: 6px solid var(--bad); padding: 6px 10px; margin-bottom: 6px;
  background: #fdf2f1; border-radius: 6px; }
.alerts li.none { border-left-color: var(--ok); background: #eefaf2; }
.recs > li { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; margin-bottom: 10px; }
.rec-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px 10px; }
.rec-head h3 { margin: 0; font-size: 1rem; flex: 1 1 300px; }
.recs code, td code { font-size: .85rem; word-break: break-all; }
.rec-foot { display: flex; flex-wrap: wrap; align-items: center; gap: 10px; margin-top: 8px; }
dialog { border: 1px solid var(--line); border-radius: 10px; padding: 18px 22px; max-width: min(560px, 94vw); }
dialog::backdrop { background: rgba(20, 33, 61, .45); }
dialog h2 { margin-top: 0; font-size: 1.1rem; }
.actions { display: flex; justify-content: flex-end; gap: 8px; }
.u-legend { font-size: .82rem; }
@media (max-width: 640px) {
  main { padding: 0 10px 24px; }
  .top { padding: 10px; }
  .charts { grid-template-columns: 1fr; }
  .panel { padding: 12px; }
}
`;
