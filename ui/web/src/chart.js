// The graph: uPlot with one line per series, a legend that filters (click isolates a series,
// Ctrl/Cmd+click toggles it) and shows the values under the cursor, optional stacking, the
// forecast (dashed mean and a prediction band beyond the last sample) and anomalies (red points,
// shaded intervals). `stats` is what the debug hook (window.__foresight.chart) exposes.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { h, formatLabels, formatValue, formatTime } from "./util.js";

/** The i-th series colour: hues spread by the golden angle. */
export function color(i, alpha = 1) {
  return `hsla(${Math.round((i * 137.508) % 360)}, 65%, 45%, ${alpha})`;
}

/**
 * Draws `model` into `el` (replacing what was there) and the legend into `legendEl`.
 * model = {start, step, xs, series: [{metric, values}], stacked,
 *          forecasts: Map(index -> {t[], mean[], lower[], upper[]}),
 *          anomalies: Map(index -> {points: [[t, v]], intervals: [[t0, t1]]}),
 *          thresholds: [{value, label}], markers: [{t, label}]}
 * Thresholds are drawn as horizontal red dashed lines, markers (a forecast's predicted crossing)
 * as vertical ones with their label.
 */
export function drawChart(el, legendEl, model, onDrawn) {
  const { xs, series, stacked, forecasts = new Map(), anomalies = new Map(), thresholds = [], markers = [] } = model;
  const n = xs.length;
  const indexOf = (t) => Math.round((t - xs[0]) / model.step);
  const data = [xs];
  const opts = {
    width: Math.max(300, el.clientWidth),
    height: 380,
    series: [{ value: (u, v) => (v == null ? "" : formatTime(v)) }],
    bands: [],
    scales: { x: { time: true } },
    axes: [{}, { values: (u, vals) => vals.map(formatValue), size: 60 }],
    legend: { show: false },
    // Dimming the other series redraws them all: only for a few series.
    cursor: { focus: { prox: series.length <= 20 ? 16 : -1 }, points: { size: 6 } },
    focus: { alpha: series.length <= 20 ? 0.4 : 1 },
    hooks: { drawClear: [], draw: [], setCursor: [] },
  };
  const stats = {
    series: series.length,
    points: 0,
    bands: 0,
    bandMaxX: null,
    lastSampleX: null,
    anomalies: 0,
    thresholds: thresholds.length,
    markers: markers.map((m) => m.t),
  };
  const related = series.map(() => []); // uPlot indexes of each series' forecast and anomalies
  const raw = [];
  let below = null;
  series.forEach((s, i) => {
    const vals = s.values;
    for (let j = 0; j < vals.length; j++) {
      if (vals[j] !== null) {
        stats.points++;
        if (stats.lastSampleX === null || xs[j] > stats.lastSampleX) stats.lastSampleX = xs[j];
      }
    }
    raw.push(vals);
    let drawn = vals;
    if (stacked) {
      drawn = new Array(n);
      for (let j = 0; j < n; j++) drawn[j] = vals[j] === null ? null : vals[j] + (below ? below[j] ?? 0 : 0);
    }
    data.push(drawn);
    const idx = data.length - 1;
    opts.series.push({
      label: formatLabels(s.metric),
      stroke: color(i),
      width: 1.25,
      points: { show: false },
      fill: stacked ? color(i, 0.35) : undefined,
    });
    if (stacked && below) opts.bands.push({ series: [idx, idx - 1], fill: color(i, 0.35) });
    if (stacked) below = drawn;
  });

  series.forEach((s, i) => {
    const f = forecasts.get(i);
    if (f) {
      const mean = new Array(n).fill(null);
      const lo = new Array(n).fill(null);
      const hi = new Array(n).fill(null);
      f.t.forEach((t, k) => {
        const j = indexOf(t);
        if (j >= 0 && j < n) {
          mean[j] = f.mean[k];
          lo[j] = f.lower[k];
          hi[j] = f.upper[k];
          if (stats.bandMaxX === null || t > stats.bandMaxX) stats.bandMaxX = t;
        }
      });
      const base = data.length;
      data.push(mean, lo, hi);
      opts.series.push(
        { label: `forecast ${formatLabels(s.metric)}`, stroke: color(i), dash: [8, 4], width: 1.5, points: { show: false } },
        { label: "lower", stroke: color(i, 0.4), width: 0.5, points: { show: false } },
        { label: "upper", stroke: color(i, 0.4), width: 0.5, points: { show: false } },
      );
      opts.bands.push({ series: [base + 2, base + 1], fill: color(i, 0.15) });
      stats.bands++;
      related[i].push(base, base + 1, base + 2);
    }
    const a = anomalies.get(i);
    if (a && a.points.length) {
      const pts = new Array(n).fill(null);
      for (const [t, v] of a.points) {
        const j = indexOf(t);
        if (j >= 0 && j < n) {
          pts[j] = v;
          stats.anomalies++;
        }
      }
      data.push(pts);
      opts.series.push({
        label: `anomalies ${formatLabels(s.metric)}`,
        stroke: "#d62728",
        width: 0,
        paths: () => null,
        points: { show: true, size: 8, fill: "#d62728", stroke: "#d62728" },
      });
      related[i].push(data.length - 1);
    }
  });

  // Anomalous intervals: shaded columns behind the lines.
  const intervals = [];
  anomalies.forEach((a, i) => a.intervals.forEach(([t0, t1]) => intervals.push([i, t0, t1 + model.step])));
  opts.hooks.drawClear.push((u) => {
    const { ctx, bbox } = u;
    ctx.save();
    ctx.fillStyle = "rgba(214, 39, 40, 0.10)";
    for (const [i, t0, t1] of intervals) {
      if (!u.series[i + 1].show) continue;
      const x0 = u.valToPos(t0, "x", true);
      const x1 = u.valToPos(t1, "x", true);
      ctx.fillRect(x0, bbox.top, Math.max(2, x1 - x0), bbox.height);
    }
    ctx.restore();
  });
  // Thresholds and markers, over the lines. The y scale includes the thresholds (a line about to
  // cross one must show it).
  if (thresholds.length) {
    opts.scales.y = {
      range: (u, lo, hi) => {
        const vals = [lo, hi, ...thresholds.map((t) => t.value)].filter((v) => v != null && Number.isFinite(v));
        let [a, b] = [Math.min(...vals), Math.max(...vals)];
        const pad = (b - a) * 0.05 || Math.abs(b) * 0.05 || 1;
        return [a - pad, b + pad];
      },
    };
  }
  opts.hooks.draw.push((u) => {
    const { ctx, bbox } = u;
    ctx.save();
    ctx.strokeStyle = "#d62728";
    ctx.fillStyle = "#d62728";
    ctx.lineWidth = 1.5 * devicePixelRatio;
    ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
    ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
    ctx.textAlign = "left";
    ctx.textBaseline = "alphabetic";
    for (const t of thresholds) {
      const y = u.valToPos(t.value, "y", true);
      ctx.beginPath();
      ctx.moveTo(bbox.left, y);
      ctx.lineTo(bbox.left + bbox.width, y);
      ctx.stroke();
      ctx.fillText(t.label, bbox.left + 4 * devicePixelRatio, y - 4 * devicePixelRatio);
    }
    for (const m of markers) {
      const x = u.valToPos(m.t, "x", true);
      ctx.beginPath();
      ctx.moveTo(x, bbox.top);
      ctx.lineTo(x, bbox.top + bbox.height);
      ctx.stroke();
      ctx.fillText(m.label, x + 4 * devicePixelRatio, bbox.top + 12 * devicePixelRatio);
    }
    ctx.restore();
  });
  const started = performance.now();
  opts.hooks.draw.push(() => onDrawn && onDrawn(performance.now() - started));

  // Legend: rows with the value under the cursor.
  legendEl.replaceChildren();
  const head = h("div", { class: "legend-time muted" }, "");
  const rows = series.map((s, i) => {
    const value = h("span", { class: "legend-value" }, "");
    const row = h(
      "div",
      { class: "legend-row", title: "click: show only this series; Ctrl/Cmd+click: hide or show it" },
      h("span", { class: "swatch", style: `background:${color(i)}` }),
      h("span", { class: "legend-label" }, formatLabels(s.metric)),
      value,
    );
    row.addEventListener("click", (e) => toggle(i, e.ctrlKey || e.metaKey));
    return { row, value };
  });
  legendEl.append(head, ...rows.map((r) => r.row));

  el.replaceChildren();
  opts.hooks.setCursor.push((u) => {
    const j = u.cursor.idx;
    head.textContent = j == null ? "" : formatTime(xs[j]);
    rows.forEach((r, i) => {
      r.value.textContent = j == null ? "" : formatValue(raw[i][j]);
    });
  });
  const u = new uPlot(opts, data, el);

  function toggle(i, only) {
    const shown = series.map((_, k) => u.series[k + 1].show);
    let next;
    if (only) {
      next = shown.slice();
      next[i] = !next[i];
    } else {
      const isolated = shown[i] && shown.filter(Boolean).length === 1;
      next = series.map((_, k) => isolated || k === i);
    }
    u.batch(() => {
      next.forEach((show, k) => {
        if (u.series[k + 1].show !== show) u.setSeries(k + 1, { show });
        for (const r of related[k]) if (u.series[r].show !== show) u.setSeries(r, { show });
      });
    });
    rows.forEach((r, k) => r.row.classList.toggle("hidden", !next[k]));
    stats.visible = next.filter(Boolean).length;
  }
  stats.visible = series.length;

  const resize = () => u.setSize({ width: Math.max(300, el.clientWidth), height: 380 });
  window.addEventListener("resize", resize);
  return {
    uplot: u,
    stats,
    toggle,
    destroy() {
      window.removeEventListener("resize", resize);
      u.destroy();
    },
    /** Follow mode: one new column of values (by series index), dropping the oldest. */
    append(t, valuesByIndex) {
      const cols = u.data.map((c) => Array.from(c));
      cols[0].push(t);
      cols[0].shift();
      let acc = 0;
      for (let k = 1; k < cols.length; k++) {
        const i = k - 1;
        const v = i < series.length && valuesByIndex.has(i) ? valuesByIndex.get(i) : null;
        if (i < series.length) {
          raw[i] = raw[i].slice(1);
          raw[i].push(v);
          if (v !== null) acc += v;
        }
        cols[k].push(stacked && v !== null ? acc : v);
        cols[k].shift();
      }
      xs.push(t);
      xs.shift();
      u.setData(cols);
      stats.lastSampleX = t;
    },
  };
}
