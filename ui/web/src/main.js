// The single-page app: a router over /, /graph, /alerts, /rules and /status (the server answers
// index.html for those paths), links handled without reloading.

import "./style.css";
import { queryPage } from "./pages/query.js";
import { alertsPage } from "./pages/alerts.js";
import { rulesPage } from "./pages/rules.js";
import { statusPage } from "./pages/status.js";
import { debug } from "./debug.js";
import { h } from "./util.js";

const PAGES = {
  "/": ["graph", queryPage],
  "/graph": ["graph", queryPage],
  "/alerts": ["alerts", alertsPage],
  "/rules": ["rules", rulesPage],
  "/status": ["status", statusPage],
};

let leave = null;

async function route() {
  const root = document.getElementById("page");
  const [name, page] = PAGES[location.pathname] || PAGES["/"];
  document.querySelectorAll("[data-nav]").forEach((a) => a.classList.toggle("active", a.dataset.nav === name));
  document.title = `foresight · ${name === "graph" ? "query" : name}`;
  if (typeof leave === "function") leave();
  leave = null;
  debug.page = null;
  debug.error = null;
  try {
    leave = await page(root, new URLSearchParams(location.search));
  } catch (e) {
    debug.error = e.message;
    root.replaceChildren(h("div", { class: "error" }, e.message));
  }
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[href^='/']");
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || a.target) return;
  const url = new URL(a.href);
  if (!(url.pathname in PAGES)) return;
  e.preventDefault();
  history.pushState(null, "", url.pathname + url.search);
  route();
});
window.addEventListener("popstate", route);
route();
