// Platform Logs charts: one small wrapper over the vendored uPlot (static/vendor/uplot/), for any page.
//
// How to use it (no inline script: the CSP allows only files served by the app):
//   <link rel="stylesheet" href="{{ url_for('web.static', filename='vendor/uplot/uPlot.min.css') }}">
//   <script src="{{ url_for('web.static', filename='vendor/uplot/uPlot.iife.min.js') }}" defer></script>
//   <script src="{{ url_for('web.static', filename='charts.js') }}" defer></script>
//   <div class="chart" data-chart='{{ spec|tojson }}' aria-label="What the chart shows"></div>
// Every element with data-chart is drawn when the page has loaded (or call PlatlogsCharts.render(el, spec)).
// spec = {
//   kind: "line" | "bars" | "stacked" | "sparkline",   // stacked: bars of each series on top of each other
//   x: [epoch ms, ...],                                 // bucket starts (UTC instants)
//   series: [{label: "errors", values: [n|null, ...]}],  // one list of values per series, as long as x
//                                                       // (rest: true draws a series grey: "other")
//   unit: "events",                                     // optional, shown in the legend
//   height: 220,                                        // optional, px (sparkline: 40)
//   max: 100                                            // optional fixed top of the y axis (e.g. percent)
// }
// Times on the axis are in the browser's zone; the legend shows the local time and UTC beside it.
// Colours: the Okabe–Ito palette (distinguishable with colour-blindness), dashes alternate for print.
"use strict";

(function () {
  const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#882255", "#000000"];
  const REST = "#A6A6A6";   // a series marked {rest: true} ("other"): grey, never a palette colour
  const DASHES = [[], [6, 3], [2, 2], [8, 3, 2, 3]];
  const pad = (n) => String(n).padStart(2, "0");

  function zone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (_) { return ""; }
  }
  function localText(d) {
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }
  function utcText(d) {
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + " UTC";
  }
  function timeText(ms) {
    if (ms == null) return "\u2014";
    const d = new Date(ms);
    return localText(d) + " \u00b7 " + utcText(d);
  }
  function numberText(v) {
    if (v == null || Number.isNaN(v)) return "\u2014";
    return Number(v).toLocaleString(undefined, { maximumFractionDigits: 2 });
  }
  function cssVar(name, fallback) {
    const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  // Stacked bars: series i is drawn as the sum of itself and every later series, so the first
  // series is the tallest bar, drawn first, and each later one paints over its lower part: the
  // stack reads top to bottom in the legend's order. The legend keeps the raw values.
  function stack(series) {
    const sums = series[0] ? series[0].values.map(() => 0) : [];
    const out = [];
    for (let k = series.length - 1; k >= 0; k--) {
      out[k] = series[k].values.map((v, i) => (sums[i] += v == null ? 0 : Number(v)));
    }
    return out;
  }

  function render(el, spec) {
    if (typeof uPlot === "undefined" || !spec || !Array.isArray(spec.x)) return null;
    const kind = spec.kind || "line";
    const spark = kind === "sparkline";
    const series = (spec.series || []).filter((s) => Array.isArray(s.values));
    const stacked = kind === "stacked";
    const shown = stacked ? stack(series) : series.map((s) => s.values);
    // on paper: dark text and light grid lines whatever the screen's colour scheme
    const paper = window.matchMedia && window.matchMedia("print").matches;
    const axis = paper ? "#222" : cssVar("--muted", "#5b6577");
    const grid = paper ? "#ccc" : cssVar("--line", "#dfe3ea");
    const barPaths = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.8, 60] }) : undefined;
    const opts = {
      width: Math.max(el.clientWidth || 300, 120),
      height: spec.height || (spark ? 40 : 220),
      ms: 1,
      tzDate: (ts) => new Date(ts),
      legend: { show: !spark, live: true },
      cursor: { show: !spark, drag: { x: false, y: false } },
      select: { show: false },
      scales: { x: { time: true }, y: { range: (u, lo, hi) => [0, spec.max != null ? spec.max : Math.max(hi, 1) * 1.05] } },
      axes: spark ? [{ show: false }, { show: false }] : [
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } },
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, size: 60,
          values: (u, ticks) => ticks.map(numberText) },
      ],
      series: [{ label: "Time (" + (zone() || "local") + ")", value: (u, v) => timeText(v) }].concat(series.map((s, i) => {
        const colour = s.colour || (s.rest ? REST : PALETTE[i % PALETTE.length]);
        const raw = s.values;
        const out = {
          label: String(s.label == null ? "" : s.label) + (spec.unit ? " (" + spec.unit + ")" : ""),
          stroke: colour, width: spark ? 1.5 : 2, dash: kind === "line" ? DASHES[i % DASHES.length] : undefined,
          points: { show: false },
          value: (u, v, si, idx) => numberText(idx == null ? v : raw[idx]),
        };
        if (kind === "bars" || stacked) { out.fill = colour; out.paths = barPaths; out.width = 0; }
        if (spark) out.fill = colour + "33";
        return out;
      })),
    };
    return mount(el, opts, [spec.x].concat(shown));
  }

  const mounted = new WeakMap();   // element -> {chart, observer}: drawn again, the old one goes

  function mount(el, opts, data) {
    const old = mounted.get(el);
    if (old) {
      if (old.observer) old.observer.disconnect();
      old.chart.destroy();
    }
    el.replaceChildren();
    const chart = new uPlot(opts, data, el);
    let observer = null;
    if (typeof ResizeObserver !== "undefined") {
      let width = el.clientWidth;
      observer = new ResizeObserver(() => {
        if (el.clientWidth && el.clientWidth !== width) {
          width = el.clientWidth;
          chart.setSize({ width: Math.max(width, 120), height: opts.height });
        }
      });
      observer.observe(el);
    }
    mounted.set(el, { chart: chart, observer: observer });
    return chart;
  }

  function renderAll(root) {
    (root || document).querySelectorAll("[data-chart]").forEach((el) => {
      let spec = null;
      try { spec = JSON.parse(el.getAttribute("data-chart")); } catch (_) { return; }
      render(el, spec);
    });
  }

  // drawn again in the colours of the moment: printing, back on screen, a colour scheme change
  function redraw() { renderAll(); }
  window.addEventListener("beforeprint", redraw);
  window.addEventListener("afterprint", redraw);
  if (window.matchMedia) {
    const scheme = window.matchMedia("(prefers-color-scheme: dark)");
    if (scheme.addEventListener) scheme.addEventListener("change", redraw);
    const print = window.matchMedia("print");
    if (print.addEventListener) print.addEventListener("change", redraw);
  }

  window.PlatlogsCharts = { render: render, renderAll: renderAll, timeText: timeText, numberText: numberText, palette: PALETTE };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => renderAll());
  else renderAll();
})();
