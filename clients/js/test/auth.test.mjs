// GestaClient against `gesta serve --auth --policy`: keys made with `gesta keys add`,
// 401 without one, the principal recorded on events, and a subscription (fetch-based
// SSE with the bearer header) that gets only the streams the policy lets it read.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { GestaClient, GestaProblem } from "../dist/index.js";
import { database, eventually, gestaBin, serve, unique } from "./support.mjs";

const db = database();
const suffix = unique("k");
let server;
let librarian;
let reader;
const readerBook = unique("mine");

function addKey(name, roles, subject) {
  const args = ["keys", "add", "--db", db, "--name", name, "--roles", roles];
  if (subject) args.push("--subject", subject);
  const run = spawnSync(gestaBin, args, { encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim();
}

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), "gesta-auth-"));
  const policy = join(dir, "policy.toml");
  writeFileSync(
    policy,
    [
      "[roles.librarian]",
      'commands = ["AddBook", "LendBook", "ReturnBook"]',
      'read = ["book-*", "loan-*"]',
      "[roles.reader]",
      'read = ["book-{subject}"]',
    ].join("\n"),
  );
  librarian = addKey(`librarian-${suffix}`, "librarian");
  reader = addKey(`reader-${suffix}`, "reader", readerBook);
  server = await serve({ db, args: ["--auth", "--policy", policy] });
});
after(async () => {
  await server?.stop();
});

test("without a token, or with a wrong one, every call is a 401 problem", async () => {
  for (const token of [undefined, "gesta_0000000000000000_" + "0".repeat(64), "nonsense"]) {
    const client = new GestaClient(server.url, { token });
    await assert.rejects(client.dispatch("AddBook", { id: unique("b"), title: "T", copies: 1 }), (err) => {
      assert.ok(err instanceof GestaProblem);
      assert.equal(err.status, 401);
      return true;
    });
  }
});

test("a key's principal is recorded on its events; the policy refuses the rest", async () => {
  const client = new GestaClient(server.url, { token: librarian });
  const outcome = await client.dispatch("AddBook", { id: unique("b"), title: "T", copies: 1 });
  assert.equal(outcome.events[0].principal, `librarian-${suffix}`);
  const readerClient = new GestaClient(server.url, { token: reader });
  await assert.rejects(readerClient.dispatch("AddBook", { id: unique("b"), title: "T", copies: 1 }), (err) => {
    assert.equal(err.status, 403);
    return true;
  });
});

test("a subscription gets only the streams its principal may read", async () => {
  const librarianClient = new GestaClient(server.url, { token: librarian });
  const readerClient = new GestaClient(server.url, { token: reader });
  const seen = [];
  const errors = [];
  const sub = readerClient.subscribe({}, (e) => seen.push(e), { onError: (e) => errors.push(e) });
  const other = unique("other");
  await librarianClient.dispatch("AddBook", { id: other, title: "Other", copies: 1 });
  await librarianClient.dispatch("AddBook", { id: readerBook, title: "Mine", copies: 2 });
  await eventually(() => seen.length > 0, "the reader's own book");
  await librarianClient.dispatch("AddBook", { id: unique("later"), title: "Later", copies: 1 });
  await new Promise((resolve) => setTimeout(resolve, 300));
  sub.close();
  assert.deepEqual(errors, []);
  assert.deepEqual(
    seen.map((e) => e.subject),
    [`book-${readerBook}`],
  );
});
