// Starts a real `gesta serve` for the tests: the binary from GESTA_BIN (what the cargo
// test that runs this suite passes), on the database in GESTA_DB (a fresh SQLite file
// when unset).
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const gestaBin = process.env.GESTA_BIN ?? join(root, "target", "debug", "gesta");
export const libraryDir = join(root, "examples", "library");
export const libraryApp = join(libraryDir, "app.mjs");
export const fixtures = join(dirname(fileURLToPath(import.meta.url)), "fixtures");

/** The database URL of this run. */
export function database() {
  return process.env.GESTA_DB ?? `sqlite://${join(mkdtempSync(join(tmpdir(), "gesta-client-")), "test.db")}`;
}

/** A short id unique to this run, so tests sharing a database don't collide. */
export function unique(prefix) {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Runs `gesta serve --app app --db db` and answers { url, port, stop() } once it listens. */
export async function serve({ app = libraryApp, db, listen = "127.0.0.1:0", args = [] }) {
  const child = spawn(gestaBin, ["serve", "--app", app, "--db", db, "--listen", listen, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`gesta serve exited with ${code}:\n${stderr}`)));
    child.once("error", reject);
  });
  const url = line.split(/\s+/).find((word) => word.startsWith("http://"));
  if (!url) throw new Error(`no address in ${JSON.stringify(line)}`);
  return {
    url,
    listen: new URL(url).host,
    stderr: () => stderr,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

/** Waits until `check()` is true, or fails after `ms`. */
export async function eventually(check, what, ms = 10_000) {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A collection's rows from the server as the Redux state keeps them: by key. */
export function byKey(rows, key) {
  return Object.fromEntries(rows.map((row) => [String(row[key]), row]));
}
