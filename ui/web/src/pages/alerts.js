// The alerts page: every alerting rule with its state, and each alert's labels, annotations,
// value and active-since time; the expression links to the graph (Prometheus' URL form). A
// forecast rule also gets its chart: the history and forecast band of its expression, the
// threshold, and the predicted crossing of each series.
// State filter in the URL: /alerts?state=firing.

import { api } from "../api.js";
import { h, fill, ago, graphLink, formatDuration, formatValue, formatTime, gridValues, labelsKey, parseDuration, table } from "../util.js";
import { drawChart } from "../chart.js";
import { debug } from "../debug.js";

const STATES = ["firing", "pending", "inactive"];

function labelChips(labels) {
  return h(
    "span",
    { class: "chips" },
    Object.entries(labels || {}).map(([k, v]) => h("span", { class: "chip" }, `${k}=${v}`)),
  );
}

export async function alertsPage(root, params) {
  const filter = params.get("state") || "";
  const { data } = await api("/api/v1/rules", { type: "alert" });
  const rules = data.groups.flatMap((g) => g.rules.map((r) => ({ ...r, group: g.name, file: g.file })));
  const counts = Object.fromEntries(STATES.map((s) => [s, rules.filter((r) => r.state === s).length]));
  const shown = rules.filter((r) => !filter || r.state === filter);
  const link = (state, label) =>
    h("a", { href: state ? `/alerts?state=${state}` : "/alerts", class: filter === state ? "tab active" : "tab" }, label);
  fill(root, 
    h("h1", {}, "Alerts"),
    h(
      "div",
      { class: "tabs" },
      link("", `all (${rules.length})`),
      STATES.map((s) => link(s, `${s} (${counts[s]})`)),
    ),
    shown.length ? null : h("p", { class: "muted" }, rules.length ? "No alerting rule in this state." : "No alerting rules (start the server with --rules)."),
    shown.map((r) =>
      h(
        "details",
        { class: `alert-rule state-${r.state}`, open: r.state !== "inactive" },
        h(
          "summary",
          {},
          h("span", { class: `badge ${r.state}` }, r.state),
          h("strong", {}, r.name),
          h("span", { class: "muted" }, ` ${r.group} · ${r.alerts.length} alert${r.alerts.length === 1 ? "" : "s"}`),
        ),
        h(
          "div",
          { class: "rule-body" },
          h("div", {}, "expr: ", h("a", { class: "expr", href: graphLink(r.query) }, r.query)),
          r.duration ? h("div", {}, `for: ${formatDuration(r.duration)}`) : null,
          Object.keys(r.labels || {}).length ? h("div", {}, "labels: ", labelChips(r.labels)) : null,
          r.lastError ? h("div", { class: "error" }, r.lastError) : null,
          r.forecast ? forecastBlock(r) : null,
          r.alerts.length
            ? table(
                ["state", "active since", "value", "labels", "annotations"],
                r.alerts.map((a) => [
                  h("span", { class: `badge ${a.state}` }, a.state),
                  a.activeAt ? h("span", { title: a.activeAt }, ago(a.activeAt)) : "—",
                  h("span", { title: a.value }, formatValue(parseFloat(a.value))),
                  labelChips(a.labels),
                  h(
                    "div",
                    {},
                    Object.entries(a.annotations || {}).map(([k, v]) => h("div", {}, h("strong", {}, `${k}: `), v)),
                  ),
                ]),
                { class: "alerts" },
              )
            : null,
        ),
      ),
    ),
  );
  debug.page = { name: "alerts", rules: rules.length, alerts: rules.reduce((n, r) => n + r.alerts.length, 0), counts };
  debug.forecastCharts = {};
  for (const el of root.querySelectorAll(".forecast-rule")) drawForecastRule(el, el.rule);
}

/** A lead time for people: whole minutes beyond ten minutes. */
const lead = (sec) => formatDuration(sec > 600 ? Math.round(sec / 60) * 60 : sec);

const COMPARE = { "<": (a, b) => a < b, "<=": (a, b) => a <= b, ">": (a, b) => a > b, ">=": (a, b) => a >= b };

/** The forecast rule's settings, and the box its chart is drawn into. */
function forecastBlock(r) {
  const f = r.forecast;
  const box = h(
    "div",
    { class: "forecast-rule" },
    h(
      "div",
      { class: "muted" },
      `forecast of ${f.expr} over ${f.horizon} (history ${f.history}): alert when the ${f.bound} line ${f.op} ${f.threshold}` +
        (f.recover != null ? ` (recovers past ${f.recover})` : ""),
    ),
    h("div", { class: "plot" }),
    h("div", { class: "legend" }),
    h("div", { class: "crossings small" }),
  );
  box.rule = r;
  return box;
}

/**
 * Draws what the rule sees: its expression over `history` and the forecast over `horizon` (the
 * same model the rule fits, from /api/v1/forecast), the threshold, and where each series' chosen
 * line first crosses it.
 */
async function drawForecastRule(el, r) {
  const f = r.forecast;
  const stats = (debug.forecastCharts[r.name] = { state: "loading" });
  try {
    const history = parseDuration(f.history);
    const horizon = parseDuration(f.horizon);
    const end = Math.floor(Date.now() / 1000);
    // The rule's step when it has one; otherwise about 250 points of history, and at most 400
    // forecast steps.
    let step = parseDuration(f.step) || Math.max(1, Math.floor(history / 250));
    step = Math.max(step, Math.ceil(horizon / 400));
    const steps = Math.max(1, Math.ceil(horizon / step));
    const start = end - history;
    const q = { query: f.expr, start, end, step };
    const [main, fc] = await Promise.all([
      api("/api/v1/query_range", { ...q, format: "columns" }, { post: true }),
      api("/api/v1/forecast", { ...q, horizon: steps, level: f.level }, { post: true }),
    ]);
    const n = Math.floor((end - start) / step) + 1 + steps;
    const xs = Array.from({ length: n }, (_, j) => start + j * step);
    const index = new Map();
    const series = main.data.result.map((s, i) => {
      index.set(labelsKey(s.metric), i);
      return { metric: s.metric, values: gridValues(s, main.data, start, step, n) };
    });
    const forecasts = new Map();
    const markers = [];
    const crossings = [];
    const line = { point: 1, lower: 2, upper: 3 }[f.bound] || 1;
    for (const s of fc.data.result) {
      const i = index.get(labelsKey(s.metric));
      if (i === undefined) continue;
      forecasts.set(i, {
        t: s.forecast.map((p) => p[0]),
        mean: s.forecast.map((p) => parseFloat(p[1])),
        lower: s.forecast.map((p) => parseFloat(p[2])),
        upper: s.forecast.map((p) => parseFloat(p[3])),
      });
      const hit = s.forecast.find((p) => COMPARE[f.op](parseFloat(p[line]), f.threshold));
      if (hit) {
        markers.push({ t: hit[0], label: `crosses in ${lead(hit[0] - end)}` });
        crossings.push([s.metric, hit[0]]);
      }
    }
    el.querySelector(".crossings").replaceChildren(
      crossings.length
        ? h(
            "span",
            {},
            crossings.map(([m, t]) =>
              h("div", {}, `${Object.entries(m).map(([k, v]) => `${k}="${v}"`).join(", ") || "{}"}: ${f.threshold} crossed at ${formatTime(t)} UTC (in ${lead(t - end)})`),
            ),
          )
        : h("span", { class: "muted" }, `no series crosses ${f.threshold} within ${f.horizon}`),
    );
    if (!series.length) {
      el.querySelector(".plot").replaceChildren(h("p", { class: "muted" }, "No data for the expression."));
      Object.assign(stats, { state: "done", series: 0 });
      return;
    }
    const chart = drawChart(el.querySelector(".plot"), el.querySelector(".legend"), {
      start,
      step,
      xs,
      series,
      stacked: false,
      forecasts,
      thresholds: [{ value: f.threshold, label: `threshold ${f.op} ${f.threshold}` }],
      markers,
    });
    Object.assign(stats, chart.stats, { state: "done", now: end });
  } catch (e) {
    el.querySelector(".plot").replaceChildren(h("p", { class: "error" }, `forecast chart: ${e.message}`));
    Object.assign(stats, { state: "error", error: e.message });
  }
}
