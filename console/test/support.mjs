// Starts the bank example server for the console's tests (the binary in GESTA_BANK_BIN,
// what the cargo test passes) and drives it over its HTTP API.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const bankBin = process.env.GESTA_BANK_BIN ?? join(root, "target", "debug", "gesta-bank");
export const chromiumPath = process.env.GESTA_CHROMIUM ?? "/usr/bin/chromium";
const data = process.env.GESTA_CONSOLE_DATA ?? mkdtempSync(join(tmpdir(), "gesta-console-"));

/** Where screenshots go: target/console-screenshots, and docs/console with GESTA_UPDATE_SCREENSHOTS=1. */
export function screenshotDirs() {
  const dirs = [join(root, "target", "console-screenshots")];
  if (process.env.GESTA_UPDATE_SCREENSHOTS === "1") dirs.push(join(root, "docs", "console"));
  for (const dir of dirs) mkdirSync(dir, { recursive: true });
  return dirs;
}

/** The directory of this run's databases. */
export const dataDir = data;

/** Runs the bank on `db` (a fresh SQLite file by default) and answers { url, stop() } once it listens. */
export async function bank({ db = `sqlite://${join(data, `bank-${process.pid}-${Date.now()}.db`)}`, outbox = join(data, `outbox-${process.pid}-${Date.now()}.txt`), args = [] } = {}) {
  const child = spawn(bankBin, ["--db", db, "--listen", "127.0.0.1:0", "--outbox", outbox, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: "warn" },
  });
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`the bank exited with ${code}:\n${stderr}`)));
    child.once("error", reject);
  });
  const url = line.split(/\s+/).find((word) => word.startsWith("http://"));
  if (!url) throw new Error(`no address in ${JSON.stringify(line)}`);
  return {
    url,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

/** A client of the bank's HTTP API: `call(method, path, body?)` answers { status, body }. */
export function api(url, token) {
  return async (method, path, body) => {
    const headers = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (token) headers.authorization = `Bearer ${token}`;
    const response = await fetch(`${url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  };
}

/** Runs a bank command; fails the test unless it commits. */
export async function command(call, name, data) {
  const { status, body } = await call("POST", `/commands/${name}`, data);
  if (status !== 200) throw new Error(`${name} ${JSON.stringify(data)}: ${status} ${JSON.stringify(body)}`);
  return body;
}

/** Alice's and Bob's balances from the read model. */
export async function balances(call) {
  const { body } = await call("POST", "/admin/query", { sql: "SELECT id, balance FROM accounts ORDER BY id" });
  return Object.fromEntries(body.rows.map((r) => [r.id, r.balance]));
}

/** The flags the browser is started with (no network beyond the test's own server). */
export const chromiumArgs = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-proxy-server"];
