// `npm pack` makes an installable package: built in prepack, with its declarations,
// usable next to redux 5 from JavaScript and from strict TypeScript.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const here = join(dirname(fileURLToPath(import.meta.url)), "..");
const npm = (args, cwd) => execFileSync("npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

test("the packed tarball installs and works with redux 5, typed", { timeout: 180_000 }, () => {
  const out = mkdtempSync(join(tmpdir(), "gesta-pack-"));
  npm(["pack", "--pack-destination", out], here);
  const tarball = readdirSync(out).find((f) => f.endsWith(".tgz"));
  assert.ok(tarball, "npm pack made no tarball");
  const project = mkdtempSync(join(tmpdir(), "gesta-consumer-"));
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  npm(["install", "--no-audit", "--no-fund", "--prefer-offline", join(out, tarball), "redux@5", join(here, "node_modules", "typescript")], project);
  writeFileSync(
    join(project, "main.ts"),
    `import { legacy_createStore as createStore } from "redux";
import { GestaClient, GestaProblem, gestaReducer, type GestaApp, type GestaState, type Outcome } from "@gesta/client";
const app: GestaApp = {
  collections: { books: { key: "id", columns: { id: "text", copies: "integer" } } },
  reducers: { books: (books, event) => (event.type === "BookAdded" ? books.insert(event.data as { id: string; copies: number }) : books) },
};
const store = createStore(gestaReducer(app));
store.dispatch({ type: "gesta/event", event: { position: 1, type: "BookAdded", data: { id: "b1", copies: 2 } } as never });
const state: GestaState = store.getState();
const client = new GestaClient("http://127.0.0.1:1");
const pending: Promise<Outcome> = client.dispatch("AddBook", {}, { idempotencyKey: "k" });
pending.catch((e: unknown) => e instanceof GestaProblem || e instanceof TypeError);
console.log(JSON.stringify(state));
`,
  );
  writeFileSync(
    join(project, "tsconfig.json"),
    JSON.stringify({ compilerOptions: { strict: true, module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", lib: ["ES2022", "DOM"], outDir: "out", skipLibCheck: false } }),
  );
  execFileSync(join(project, "node_modules", ".bin", "tsc"), ["-p", "."], { cwd: project, stdio: "pipe" });
  const printed = execFileSync("node", [join(project, "out", "main.js")], { cwd: project, encoding: "utf8" });
  assert.deepEqual(JSON.parse(printed), { position: 1, collections: { books: { b1: { id: "b1", copies: 2 } } } });
});
