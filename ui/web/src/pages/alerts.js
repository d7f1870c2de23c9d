// The alerts page: every alerting rule with its state, and each alert's labels, annotations,
// value and active-since time; the expression links to the graph (Prometheus' URL form).
// State filter in the URL: /alerts?state=firing.

import { api } from "../api.js";
import { h, fill, ago, graphLink, formatDuration, formatValue, table } from "../util.js";
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
}
