// The rules page: groups (file, interval, last evaluation and its duration) and their rules
// (expression linked to the graph, health, last error, evaluation time).

import { api } from "../api.js";
import { h, fill, ago, graphLink, formatDuration, table } from "../util.js";
import { debug } from "../debug.js";

const ms = (sec) => (sec === undefined || sec === null ? "—" : `${(sec * 1000).toFixed(1)} ms`);

export async function rulesPage(root) {
  const { data } = await api("/api/v1/rules");
  fill(root, 
    h("h1", {}, "Rules"),
    data.groups.length ? null : h("p", { class: "muted" }, "No rule groups (start the server with --rules)."),
    data.groups.map((g) =>
      h(
        "section",
        { class: "group" },
        h(
          "h2",
          {},
          g.name,
          h(
            "span",
            { class: "muted small" },
            ` ${g.file} · every ${formatDuration(g.interval)} · last ${g.lastEvaluation ? ago(g.lastEvaluation) : "never"} · took ${ms(g.evaluationTime)}`,
          ),
        ),
        table(
          ["rule", "health", "last evaluation", "took", "last error"],
          g.rules.map((r) => [
            h(
              "div",
              {},
              h("div", {}, h("strong", {}, r.type === "alerting" ? "alert: " : "record: "), r.name),
              h("a", { class: "expr", href: graphLink(r.query) }, r.query),
            ),
            h("span", { class: `badge ${r.health}` }, r.health),
            r.lastEvaluation ? h("span", { title: r.lastEvaluation }, ago(r.lastEvaluation)) : "never",
            ms(r.evaluationTime),
            r.lastError ? h("span", { class: "error-text" }, r.lastError) : "",
          ]),
          { class: "rules" },
        ),
      ),
    ),
  );
  debug.page = { name: "rules", groups: data.groups.length, rules: data.groups.reduce((n, g) => n + g.rules.length, 0) };
}
