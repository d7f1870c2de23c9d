// Bundles src/ into ../dist: assets/app-<hash>.js and .css (hashed, cached for a year by the
// server) and index.html (no-cache) naming them. The output is committed: cargo embeds it, so
// neither building foresight nor its tests needs Node. Run: npm ci && npm run build
import * as esbuild from "esbuild";
import { readFileSync, writeFileSync, rmSync, mkdirSync } from "node:fs";

const dist = new URL("../dist/", import.meta.url).pathname;
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist + "assets", { recursive: true });

const result = await esbuild.build({
  entryPoints: { app: "src/main.js" },
  bundle: true,
  format: "esm",
  minify: true,
  target: "es2020",
  outdir: dist + "assets",
  entryNames: "[name]-[hash]",
  metafile: true,
  legalComments: "linked",
  logLevel: "info",
});

const outputs = Object.keys(result.metafile.outputs).map((p) => p.split("/").pop());
const js = outputs.find((f) => f.endsWith(".js"));
const css = outputs.find((f) => f.endsWith(".css"));
const html = readFileSync("src/index.html", "utf8")
  .replace("{{APP_JS}}", `/assets/${js}`)
  .replace("{{APP_CSS}}", `/assets/${css}`);
writeFileSync(dist + "index.html", html);
console.log(`dist: index.html, ${outputs.join(", ")}`);
