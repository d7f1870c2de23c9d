// The query page (`/` and `/graph`): editor, graph or table, forecast and anomalies, follow mode.
// Its state lives in the URL in Prometheus' form: g0.expr, g0.tab (0 graph, 1 table),
// g0.range_input, g0.end_input, g0.step_input, g0.stacked, plus g0.forecast and g0.follow.

import { api, authFetch, sse } from "../api.js";
import { createEditor } from "../editor.js";
import { drawChart } from "../chart.js";
import {
  h,
  gridValues,
  fill,
  parseDuration,
  formatDuration,
  parseTime,
  formatTime,
  formatLabels,
  labelsKey,
  formatValue,
  table,
} from "../util.js";
import { debug } from "../debug.js";

const HISTORY_KEY = "foresight.history";
const RANGES = ["5m", "15m", "30m", "1h", "3h", "6h", "12h", "1d", "2d", "1w", "2w", "4w"];

function loadHistory() {
  try {
    const v = JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]");
    return Array.isArray(v) ? v.filter((x) => typeof x === "string") : [];
  } catch {
    return [];
  }
}

function remember(expr) {
  const list = [expr, ...loadHistory().filter((x) => x !== expr)].slice(0, 50);
  localStorage.setItem(HISTORY_KEY, JSON.stringify(list));
}

/** The page state from the URL (defaults as Prometheus': graph tab, 1h). */
function readState(params) {
  const g = (k) => params.get(`g0.${k}`);
  return {
    expr: g("expr") || "",
    tab: g("tab") === "1" ? 1 : 0,
    range: parseDuration(g("range_input")) ? g("range_input") : "1h",
    end: g("end_input") || "",
    step: g("step_input") || "",
    stacked: g("stacked") === "1",
    forecast: g("forecast") === "1",
    follow: g("follow") === "1",
  };
}

function writeState(s) {
  const q = new URLSearchParams();
  q.set("g0.expr", s.expr);
  q.set("g0.tab", String(s.tab));
  q.set("g0.range_input", s.range);
  if (s.end) q.set("g0.end_input", s.end);
  if (s.step) q.set("g0.step_input", s.step);
  if (s.stacked) q.set("g0.stacked", "1");
  if (s.forecast) q.set("g0.forecast", "1");
  if (s.follow) q.set("g0.follow", "1");
  const url = `/graph?${q}`;
  if (!s.expr && location.pathname === "/") return;
  if (location.pathname + location.search !== url) history.replaceState(null, "", url);
}

export function queryPage(root, params) {
  const s = readState(params);
  let chart = null;
  let running = null; // AbortController of the run in flight
  let following = null; // AbortController of the SSE stream

  const error = h("div", { class: "error", hidden: true });
  const warn = h("div", { class: "warning", hidden: true });
  const info = h("div", { class: "muted small" });
  const plot = h("div", { class: "plot" });
  const legend = h("div", { class: "legend" });
  const models = h("details", { class: "models", hidden: true });
  const tableBox = h("div", { class: "table-box" });
  const graphBox = h("div", {}, plot, legend, models);

  const historySel = h("select", { title: "recent queries", "aria-label": "recent queries" });
  const fillHistory = () => {
    fill(historySel, 
      h("option", { value: "" }, "History…"),
      loadHistory().map((q) => h("option", { value: q }, q.length > 80 ? q.slice(0, 77) + "…" : q)),
    );
  };
  fillHistory();

  const editorBox = h("div", { class: "editor" });
  const editor = createEditor(editorBox, s.expr, () => run());
  historySel.addEventListener("change", () => {
    if (historySel.value) {
      editor.value = historySel.value;
      run();
    }
  });

  const input = (attrs, value, onchange) => {
    const el = h("input", { ...attrs, value });
    el.addEventListener("change", () => onchange(el));
    return el;
  };
  const check = (label, name, value, onchange) => {
    const el = h("input", { type: "checkbox", name });
    el.checked = value;
    el.addEventListener("change", () => onchange(el.checked));
    return h("label", { class: "check" }, el, label);
  };
  const rangeList = h("datalist", { id: "ranges" }, RANGES.map((r) => h("option", { value: r })));
  const rangeIn = input({ name: "range", list: "ranges", size: 6, title: "range, e.g. 1h, 1d" }, s.range, (el) => {
    if (parseDuration(el.value)) s.range = el.value;
    el.value = s.range;
    run();
  });
  const shiftRange = (sign) => {
    const cur = parseDuration(s.range);
    const i = RANGES.findIndex((r) => parseDuration(r) >= cur);
    const next = RANGES[Math.max(0, Math.min(RANGES.length - 1, (i < 0 ? RANGES.length - 1 : i) + sign))];
    s.range = next;
    rangeIn.value = next;
    run();
  };
  const endIn = input({ name: "end", size: 18, placeholder: "end: now", title: "end (UTC, 2026-12-07 17:00:00)" }, s.end, (el) => {
    s.end = el.value.trim() && parseTime(el.value) !== null ? el.value.trim() : "";
    el.value = s.end;
    run();
  });
  const stepIn = input({ name: "step", size: 6, placeholder: "step: auto", title: "step, e.g. 15s" }, s.step, (el) => {
    s.step = parseDuration(el.value) ? el.value.trim() : "";
    el.value = s.step;
    run();
  });
  const tabs = h(
    "div",
    { class: "tabs" },
    ["Graph", "Table"].map((name, i) => {
      const b = h("button", { class: i === s.tab ? "tab active" : "tab", "data-tab": i }, name);
      b.addEventListener("click", () => {
        s.tab = i;
        tabs.querySelectorAll(".tab").forEach((t, k) => t.classList.toggle("active", k === i));
        run();
      });
      return b;
    }),
  );
  const execute = h("button", { class: "primary", id: "execute" }, "Execute");
  execute.addEventListener("click", () => run());
  const report = h(
    "button",
    { id: "report", title: "printable period report of this query over the range, against the range before" },
    "Report",
  );
  report.addEventListener("click", () => openReport());

  root.replaceChildren(
    h("div", { class: "query-row" }, editorBox, execute, historySel),
    h(
      "div",
      { class: "controls" },
      tabs,
      h("button", { title: "shorter range", onclick: () => shiftRange(-1) }, "−"),
      rangeIn,
      rangeList,
      h("button", { title: "longer range", onclick: () => shiftRange(1) }, "+"),
      endIn,
      stepIn,
      check("stacked", "stacked", s.stacked, (v) => {
        s.stacked = v;
        run();
      }),
      check("forecast & anomalies", "forecast", s.forecast, (v) => {
        s.forecast = v;
        run();
      }),
      report,
      check("follow", "follow", s.follow, (v) => {
        s.follow = v;
        if (v) {
          s.end = "";
          endIn.value = "";
        }
        run();
      }),
    ),
    error,
    warn,
    info,
    graphBox,
    tableBox,
  );

  function showError(e) {
    error.hidden = !e;
    error.textContent = e ? e.message || String(e) : "";
    if (e && e.message) editor.markError(e.message);
  }
  function showWarnings(list) {
    warn.hidden = !list.length;
    warn.textContent = list.join("\n");
  }

  // The report's HTML page (/api/v1/report?format=html) for the range shown, opened in a new
  // window. Fetched here rather than linked, so the bearer token goes with it; the window is
  // opened within the click so that pop-up blockers let it through.
  async function openReport() {
    const expr = editor.value.trim();
    if (!expr) return;
    const range = parseDuration(s.range) || 3600;
    const end = s.end ? parseTime(s.end) : Math.floor(Date.now() / 1000);
    const win = window.open("", "_blank");
    const params = new URLSearchParams({ query: expr, start: String(end - range), end: String(end), format: "html" });
    if (s.step) params.set("step", s.step);
    showError(null);
    try {
      const r = await authFetch(`/api/v1/report?${params}`);
      const text = await r.text();
      if (!r.ok) {
        let message = `HTTP ${r.status}`;
        try {
          message = JSON.parse(text).error || message;
        } catch {
          // not JSON: keep the status
        }
        throw new Error(`report: ${message}`);
      }
      const url = URL.createObjectURL(new Blob([text], { type: "text/html" }));
      if (win) win.location.href = url;
      else window.location.href = url;
    } catch (e) {
      win?.close();
      showError(e);
    }
  }

  async function run() {
    s.expr = editor.value.trim();
    writeState(s);
    running?.abort();
    following?.abort();
    running = new AbortController();
    const signal = running.signal;
    showError(null);
    showWarnings([]);
    graphBox.hidden = s.tab !== 0;
    tableBox.hidden = s.tab !== 1;
    if (!s.expr) {
      info.textContent = "";
      debug.state = "idle";
      return;
    }
    remember(s.expr);
    fillHistory();
    debug.state = "running";
    const t0 = performance.now();
    const range = parseDuration(s.range) || 3600;
    const end = s.end ? parseTime(s.end) : Math.floor(Date.now() / 1000);
    try {
      if (s.tab === 1) await runTable(end, signal);
      else await runGraph(t0, end, range, signal);
    } catch (e) {
      if (e.name === "AbortError") return;
      showError(e);
      debug.state = "error";
      debug.error = e.message;
      debug.runs++;
    }
  }

  async function runTable(end, signal) {
    const { data, warnings } = await api("/api/v1/query", { query: s.expr, time: end }, { post: true, signal });
    showWarnings(warnings);
    let rows;
    if (data.resultType === "vector") {
      rows = data.result.map((r) => [formatLabels(r.metric), r.value[1]]);
    } else if (data.resultType === "matrix") {
      rows = data.result.map((r) => [formatLabels(r.metric), r.values.map((v) => `${v[1]} @${v[0]}`).join("\n")]);
    } else {
      rows = [[data.resultType, String(data.result[1])]];
    }
    const shown = rows.slice(0, 10000);
    info.textContent = `${rows.length} result${rows.length === 1 ? "" : "s"} at ${formatTime(end)} UTC${rows.length > shown.length ? `, first ${shown.length} shown` : ""}`;
    tableBox.replaceChildren(table(["series", "value"], shown, { class: "results" }));
    debug.table = { rows: rows.length };
    debug.state = "done";
    debug.runs++;
  }

  async function runGraph(t0, end, range, signal) {
    const width = Math.max(300, plot.clientWidth || 1000);
    const step = parseDuration(s.step) || Math.max(1, Math.floor(range / Math.min(250, width)));
    const start = end - range;
    const horizon = Math.max(1, Math.round(range / step / 4));
    const q = { query: s.expr, start, end, step };
    const model = s.forecast && !s.follow;
    const [main, fc, an] = await Promise.all([
      // Columns: one number per step, a third of the bytes and no per-point arrays to build.
      api("/api/v1/query_range", { ...q, format: "columns" }, { post: true, signal }),
      model ? api("/api/v1/forecast", { ...q, horizon }, { post: true, signal }).catch((e) => e) : null,
      model ? api("/api/v1/anomalies", q, { post: true, signal }).catch((e) => e) : null,
    ]);
    const fetched = performance.now();
    const { data } = main;
    const warnings = [...main.warnings];
    if (data.resultType !== "matrix") throw new Error(`the graph needs a range vector result, got ${data.resultType}`);
    const extra = fc && !(fc instanceof Error) ? horizon : 0;
    const n = Math.floor((end - start) / step) + 1 + extra;
    const xs = new Array(n);
    for (let j = 0; j < n; j++) xs[j] = start + j * step;
    const index = new Map();
    const series = data.result.map((r, i) => {
      index.set(labelsKey(r.metric), i);
      return { metric: r.metric, values: gridValues(r, data, start, step, n) };
    });
    const forecasts = new Map();
    const anomalies = new Map();
    if (fc instanceof Error) warnings.push(`forecast: ${fc.message}`);
    else if (fc) {
      warnings.push(...fc.warnings.map((w) => `forecast: ${w}`));
      for (const r of fc.data.result) {
        const i = index.get(labelsKey(r.metric));
        if (i === undefined) continue;
        forecasts.set(i, {
          model: r.model,
          level: r.level,
          interval: r.interval,
          t: r.forecast.map((p) => p[0]),
          mean: r.forecast.map((p) => parseFloat(p[1])),
          lower: r.forecast.map((p) => parseFloat(p[2])),
          upper: r.forecast.map((p) => parseFloat(p[3])),
        });
      }
    }
    if (an instanceof Error) warnings.push(`anomalies: ${an.message}`);
    else if (an) {
      warnings.push(...an.warnings.map((w) => `anomalies: ${w}`));
      for (const r of an.data.result) {
        const i = index.get(labelsKey(r.metric));
        if (i === undefined) continue;
        anomalies.set(i, {
          points: r.anomalies.map((a) => [a.time, parseFloat(a.value)]),
          intervals: r.intervals.map((x) => [x.start, x.end]),
        });
      }
    }
    showWarnings(warnings);
    chart?.destroy();
    chart = null;
    if (!series.length) {
      plot.replaceChildren(h("p", { class: "muted" }, "No data in this range."));
      legend.replaceChildren();
      models.hidden = true;
      info.textContent = `0 series, ${formatDuration(range)} ending ${formatTime(end)} UTC`;
      debug.chart = { series: 0, points: 0, bands: 0, anomalies: 0, fetchMs: fetched - t0, renderMs: performance.now() - t0 };
      debug.state = "done";
      debug.runs++;
      return;
    }
    // uPlot draws inside its constructor or on the next microtask: the hook records when, and
    // publishes the stats once drawChart has returned.
    let first = true;
    chart = drawChart(plot, legend, { start, step, xs, series, stacked: s.stacked, forecasts, anomalies }, () => {
      if (!first) return;
      first = false;
      const drawn = performance.now();
      queueMicrotask(() => {
        const st = chart.stats;
        st.fetchMs = fetched - t0;
        st.renderMs = drawn - t0;
        debug.chart = st;
        debug.state = "done";
        debug.runs++;
      });
    });
    const pts = chart.stats.points;
    info.textContent = `${series.length} series, ${pts.toLocaleString()} points, step ${formatDuration(step)}, ${formatDuration(range)} ending ${formatTime(end)} UTC`;
    renderModels(forecasts, series);
    if (s.follow) follow(step, index);
  }

  function renderModels(forecasts, series) {
    models.hidden = forecasts.size === 0;
    if (!forecasts.size) return;
    const num = (v) => (v === null || v === undefined ? "—" : formatValue(parseFloat(v)));
    const rows = [...forecasts].map(([i, f]) => [
      formatLabels(series[i].metric),
      f.model.type,
      String(f.model.season),
      num(f.model.alpha),
      num(f.model.beta),
      num(f.model.gamma),
      num(f.model.phi),
      num(f.model.aicc),
      num(f.model.sigma),
      String(f.model.observations),
      `${f.interval} ${Math.round(parseFloat(f.level) * 100)}%`,
      f.model.fallback ? `${f.model.fallback.requested}: ${f.model.fallback.reason}` : "",
    ]);
    models.replaceChildren(
      h("summary", {}, `Model and parameters (${forecasts.size} series)`),
      table(["series", "model", "season", "α", "β", "γ", "φ", "AICc", "σ", "points", "interval", "fallback"], rows),
    );
  }

  function follow(step, index) {
    following = new AbortController();
    const interval = `${Math.max(1, step)}s`;
    const url = `/api/v1/stream?${new URLSearchParams({ query: s.expr, interval })}`;
    debug.follow = { events: 0 };
    sse(
      url,
      (event, text) => {
        if (event === "error") {
          try {
            showError(new Error(JSON.parse(text).error));
          } catch {
            showError(new Error(text));
          }
          return;
        }
        if (event !== "message" || !chart) return;
        const data = JSON.parse(text);
        if (data.resultType !== "vector") return;
        const values = new Map();
        let t = null;
        for (const r of data.result) {
          const i = index.get(labelsKey(r.metric));
          t = r.value[0];
          if (i !== undefined) values.set(i, parseFloat(r.value[1]));
        }
        if (t !== null) chart.append(t, values);
        debug.follow.events++;
      },
      following.signal,
    ).catch((e) => {
      if (e.name !== "AbortError") showError(e);
    });
  }

  run();
  return () => {
    running?.abort();
    following?.abort();
    chart?.destroy();
  };
}
