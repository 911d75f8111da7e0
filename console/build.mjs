// Builds the console into crates/gesta-http/console/ (embedded in every Gesta server):
// src/main.ts and @gesta/client (from ../clients/js/src) bundled and minified into one
// script, the style sheet minified, the page copied. `node build.mjs --out DIR` builds
// elsewhere (the drift test compares that with the checked-in files).
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const flag = process.argv.indexOf("--out");
const out = flag > 0 ? resolve(process.argv[flag + 1]) : join(here, "..", "crates", "gesta-http", "console");
mkdirSync(out, { recursive: true });

const common = { bundle: true, minify: true, legalComments: "none", logLevel: "warning", charset: "utf8" };
await build({
  ...common,
  entryPoints: [join(here, "src", "main.ts")],
  outfile: join(out, "console.js"),
  format: "esm",
  target: ["es2022"],
  alias: { "@gesta/client": join(here, "..", "clients", "js", "src", "index.ts") },
});
await build({ ...common, entryPoints: [join(here, "src", "console.css")], outfile: join(out, "console.css") });
copyFileSync(join(here, "src", "index.html"), join(out, "index.html"));
console.log(`console built into ${out}`);
