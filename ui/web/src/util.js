// Small helpers shared by the pages: DOM building, durations, label sets.

/** h("div", {class: "x", onclick}, child, "text") */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

const UNITS = [
  ["y", 365 * 86400],
  ["w", 7 * 86400],
  ["d", 86400],
  ["h", 3600],
  ["m", 60],
  ["s", 1],
];

/** "1h30m" -> 5400 (seconds); null when it is not a duration. Plain numbers are seconds. */
export function parseDuration(s) {
  s = String(s || "").trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  const re = /(\d+)(ms|y|w|d|h|m|s)/gy;
  let total = 0;
  let m;
  let seen = 0;
  while ((m = re.exec(s))) {
    seen += m[0].length;
    total += m[2] === "ms" ? Number(m[1]) / 1000 : Number(m[1]) * UNITS.find((u) => u[0] === m[2])[1];
  }
  return seen === s.length && seen > 0 ? total : null;
}

/** 5400 -> "1h30m" */
export function formatDuration(sec) {
  if (!(sec > 0)) return "0s";
  let out = "";
  for (const [u, n] of UNITS) {
    const k = Math.floor(sec / n);
    if (k > 0) {
      out += `${k}${u}`;
      sec -= k * n;
    }
  }
  return out || `${Math.round(sec * 1000)}ms`;
}

/** Prometheus' g0.end_input "2026-12-07 17:00:00" (UTC), RFC 3339 or unix seconds -> seconds. */
export function parseTime(s) {
  s = String(s || "").trim();
  if (!s) return null;
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  const iso = /^\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?$/.test(s) ? s.replace(" ", "T") + "Z" : s;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms / 1000;
}

/** seconds -> "2026-12-07 17:00:00" (UTC, as Prometheus writes g0.end_input). */
export function formatTime(sec) {
  return new Date(sec * 1000).toISOString().replace("T", " ").slice(0, 19);
}

/** {__name__: "up", job: "a"} -> up{job="a"} */
export function formatLabels(metric) {
  const name = metric.__name__ || "";
  const rest = Object.entries(metric)
    .filter(([k]) => k !== "__name__")
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return rest.length || !name ? `${name}{${rest.join(", ")}}` : name;
}

/** A stable key of a label set, to match series across answers. */
export function labelsKey(metric) {
  return JSON.stringify(Object.keys(metric).sort().map((k) => [k, metric[k]]));
}

/** A number for people: 3 significant digits, SI suffix beyond 10^4. */
export function formatValue(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  const a = Math.abs(v);
  if (a >= 1e4 || (a > 0 && a < 1e-3)) {
    const units = ["", "k", "M", "G", "T", "P"];
    let i = 0;
    let x = v;
    while (Math.abs(x) >= 1000 && i < units.length - 1) {
      x /= 1000;
      i++;
    }
    return i ? `${+x.toPrecision(3)}${units[i]}` : v.toExponential(2);
  }
  return String(+v.toPrecision(4));
}

/** "12 MiB" */
export function formatBytes(n) {
  if (!(n >= 0)) return "—";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i ? n.toFixed(1) : n} ${u[i]}`;
}

/** "3m ago" */
export function ago(date) {
  const s = (Date.now() - new Date(date).getTime()) / 1000;
  if (!Number.isFinite(s)) return "—";
  return s < 1 ? "just now" : `${formatDuration(Math.round(s))} ago`;
}

/** A link to the graph page for an expression, in Prometheus' URL form. */
export function graphLink(expr, range = "1h") {
  const q = new URLSearchParams({ "g0.expr": expr, "g0.tab": "0", "g0.range_input": range });
  return `/graph?${q}`;
}

/** A table from rows of cells. */
export function table(head, rows, attrs = {}) {
  return h(
    "table",
    attrs,
    h("thead", {}, h("tr", {}, head.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))),
  );
}

/** Replaces the children of `el` (arrays flattened; null, undefined and false left out). */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

/** A JSON value as a number: Prometheus writes "NaN", "+Inf" and "-Inf" as strings. */
export function promNumber(v) {
  if (typeof v === "number") return v;
  if (v === "+Inf") return Infinity;
  if (v === "-Inf") return -Infinity;
  return parseFloat(v);
}

/**
 * One series of a range answer on the chart's grid of `n` steps from `start`: from the columns
 * form (`format=columns`: one value or null per step) or Prometheus' [[t, "v"], ...].
 */
export function gridValues(r, data, start, step, n) {
  const values = new Array(n).fill(null);
  if (data.format === "columns") {
    const off = Math.round((data.start - start) / step);
    const vs = r.values;
    for (let k = 0; k < vs.length; k++) {
      const v = vs[k];
      const j = off + k;
      if (v !== null && j >= 0 && j < n) values[j] = typeof v === "number" ? v : promNumber(v);
    }
    return values;
  }
  for (const [t, v] of r.values) {
    const j = Math.round((t - start) / step);
    if (j >= 0 && j < n) values[j] = promNumber(v);
  }
  return values;
}
