// The status page: build and runtime information, flags, storage (series, samples, blocks,
// bytes per sample, WAL), the metrics with the most series, and ingestion and query rates from
// two reads of foresight's own /metrics.

import { api, text } from "../api.js";
import { h, fill, table, formatBytes, formatValue, ago } from "../util.js";
import { debug } from "../debug.js";

/** Sums of the samples of /metrics by metric name, filtered by `keep(name, labels)`. */
export function sumMetrics(body, keep) {
  const out = {};
  for (const line of body.split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || !keep(m[1], m[2] || "")) continue;
    out[m[1]] = (out[m[1]] || 0) + parseFloat(m[3]);
  }
  return out;
}

const RATE_EVERY_MS = 5000;

function counters(body) {
  const ingested = sumMetrics(body, (n) => n === "foresight_samples_ingested_total").foresight_samples_ingested_total || 0;
  const queries =
    sumMetrics(body, (n, l) => n === "foresight_http_requests_total" && /handler="\/api\/v1\/query(_range)?"/.test(l))
      .foresight_http_requests_total || 0;
  return { ingested, queries, at: performance.now() };
}

export async function statusPage(root) {
  const [build, runtime, flags, tsdb] = await Promise.all([
    api("/api/v1/status/buildinfo"),
    api("/api/v1/status/runtimeinfo"),
    api("/api/v1/status/flags"),
    api("/api/v1/status/tsdb", { limit: 10 }),
  ]);
  const st = tsdb.data.storage || {};
  const head = tsdb.data.headStats;
  const kv = (rows) => table(["", ""], rows, { class: "kv" });
  const rates = h("div", {}, h("p", { class: "muted" }, "measuring…"));
  const top = (title, list, unit = "series") =>
    h(
      "section",
      {},
      h("h2", {}, title),
      table(["name", unit], list.map((x) => [x.name, x.value.toLocaleString()]), { class: "toplist" }),
    );
  fill(root, 
    h("h1", {}, "Status"),
    h(
      "div",
      { class: "status-grid" },
      h(
        "section",
        {},
        h("h2", {}, "Build and runtime"),
        kv([
          ["application", build.data.application || "foresight"],
          ["version", build.data.version],
          ["started", `${runtime.data.startTime} (${ago(runtime.data.startTime)})`],
          ["working directory", runtime.data.CWD],
          ["storage retention", runtime.data.storageRetention],
          ["rules last reloaded", `${runtime.data.reloadConfigSuccess ? "ok" : "FAILED"}, ${runtime.data.lastConfigTime}`],
          ["quarantined blocks", String(runtime.data.corruptionCount)],
        ]),
      ),
      h(
        "section",
        {},
        h("h2", {}, "Storage"),
        kv([
          ["series (head)", head.numSeries.toLocaleString()],
          ["label pairs", head.numLabelPairs.toLocaleString()],
          ["samples in blocks", (st.blockSamples ?? 0).toLocaleString()],
          ["blocks", `${st.blocks ?? 0} (${formatBytes(st.blockBytes)})`],
          ["bytes per sample (blocks)", st.bytesPerSample ? st.bytesPerSample.toFixed(2) : "—"],
          ["head memory", formatBytes(st.headBytes)],
          ["WAL", formatBytes(st.walBytes)],
          ["time range", head.minTime != null ? `${new Date(head.minTime).toISOString()} … ${new Date(head.maxTime).toISOString()}` : "empty"],
        ]),
      ),
      h("section", {}, h("h2", {}, "Rates"), rates),
    ),
    h(
      "div",
      { class: "status-grid" },
      top("Top metrics by series", tsdb.data.seriesCountByMetricName),
      top("Label names by value count", tsdb.data.labelValueCountByLabelName, "values"),
      top("Label pairs by series", tsdb.data.seriesCountByLabelValuePair),
    ),
    h(
      "section",
      {},
      h("h2", {}, "Flags"),
      table(["flag", "value"], Object.entries(flags.data).map(([k, v]) => [k, v]), { class: "flags" }),
    ),
  );
  debug.page = { name: "status", topMetrics: tsdb.data.seriesCountByMetricName.length, series: head.numSeries };

  let prev = counters(await text("/metrics"));
  const tick = async () => {
    if (!rates.isConnected) return;
    try {
      const cur = counters(await text("/metrics"));
      const dt = (cur.at - prev.at) / 1000;
      rates.replaceChildren(
        kv([
          ["samples ingested / s", formatValue((cur.ingested - prev.ingested) / dt)],
          ["queries / s", formatValue((cur.queries - prev.queries) / dt)],
          ["samples ingested since start", cur.ingested.toLocaleString()],
          ["queries since start", cur.queries.toLocaleString()],
        ]),
        h("p", { class: "muted small" }, `over the last ${dt.toFixed(1)} s, from /metrics`),
      );
      prev = cur;
      debug.page.rates = true;
      setTimeout(tick, RATE_EVERY_MS);
    } catch (e) {
      rates.replaceChildren(h("p", { class: "error" }, e.message));
    }
  };
  setTimeout(tick, 1000);
}
