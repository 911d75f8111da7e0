// GestaClient against a real `gesta serve` of the library: commands, problems, reads,
// and subscriptions that resume after the server goes away.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { GestaClient, GestaProblem } from "../dist/index.js";
import { database, eventually, serve, unique } from "./support.mjs";

const db = database();
let server;
let client;

before(async () => {
  server = await serve({ db });
  client = new GestaClient(server.url);
});
after(async () => {
  await server?.stop();
});

test("dispatch answers the outcome; the same idempotency key runs the command once", async () => {
  const id = unique("dune");
  const outcome = await client.dispatch("AddBook", { id, title: "Dune", copies: 2 }, { idempotencyKey: `add-${id}` });
  assert.match(outcome.command_id, /^[0-9a-f-]{36}$/);
  assert.equal(outcome.events.length, 1);
  const [event] = outcome.events;
  assert.equal(event.type, "BookAdded");
  assert.equal(event.subject, `book-${id}`);
  assert.equal(event.position, outcome.position);
  assert.deepEqual(event.data, { id, title: "Dune", copies: 2 });

  const again = await client.dispatch("AddBook", { id, title: "Dune", copies: 2 }, { idempotencyKey: `add-${id}` });
  assert.equal(again.command_id, outcome.command_id);
  assert.equal(again.position, outcome.position);
  assert.deepEqual(await client.row("books", id), { id, title: "Dune", copies: 2, on_loan: 0 });
});

test("problems throw GestaProblem with status, title, detail, field and the whole body", async () => {
  const id = unique("book");
  await client.dispatch("AddBook", { id, title: "T", copies: 1 });

  const invalid = await client.dispatch("AddBook", { id, title: "T", copies: 0 }).catch((e) => e);
  assert.ok(invalid instanceof GestaProblem, String(invalid));
  assert.equal(invalid.status, 400);
  assert.equal(invalid.field, "copies");
  assert.match(invalid.detail, /minimum of 1/);
  assert.equal(invalid.body.status, 400);
  assert.match(invalid.body.type, /^\/problems\//);

  const rejected = await client.dispatch("AddBook", { id, title: "T", copies: 1 }).catch((e) => e);
  assert.ok(rejected instanceof GestaProblem);
  assert.equal(rejected.status, 422);
  assert.equal(rejected.detail, `book ${id} already exists`);
  assert.equal(typeof rejected.title, "string");

  const unknown = await client.dispatch("BurnBook", { id }).catch((e) => e);
  assert.equal(unknown.status, 404);

  const lentOut = unique("loan");
  await client.dispatch("LendBook", { loan_id: lentOut, book_id: id, reader: "ann" });
  const none = await client.dispatch("LendBook", { loan_id: unique("loan"), book_id: id, reader: "bob" }).catch((e) => e);
  assert.equal(none.status, 422);
  assert.equal(none.detail, `every copy of ${id} is on loan`);
  // Nothing was written by the refused commands.
  assert.equal((await client.row("books", id)).on_loan, 1);
});

test("collection and row read now and as of a position", async () => {
  const id = unique("asof");
  const added = await client.dispatch("AddBook", { id, title: "Old", copies: 3 });
  await client.dispatch("LendBook", { loan_id: unique("loan"), book_id: id, reader: "cy" });
  assert.equal((await client.row("books", id)).on_loan, 1);
  assert.equal((await client.row("books", id, { asOf: added.position })).on_loan, 0);
  assert.equal(await client.row("books", id, { asOf: added.position - 1 }), undefined);
  const page = await client.collection("books", { asOf: added.position });
  assert.equal(page.position, added.position);
  assert.ok(page.rows.some((row) => row.id === id));
  const bad = await client.collection("books", { asOf: "yesterday-ish" }).catch((e) => e);
  assert.equal(bad.status, 400);
  assert.equal(await client.row("books", unique("none")), undefined);
});

test("subscribe delivers matching events in order, by category and type", async () => {
  const head = (await client.collection("books")).position;
  const id = unique("sub");
  const all = [];
  const lent = [];
  const a = client.subscribe({ after: head, category: "book" }, (e) => all.push(e));
  const b = client.subscribe({ after: head, type: "BookLent" }, (e) => lent.push(e));
  const loan = unique("loan");
  await client.dispatch("AddBook", { id, title: "S", copies: 1 });
  await client.dispatch("LendBook", { loan_id: loan, book_id: id, reader: "di" });
  await client.dispatch("ReturnBook", { loan_id: loan });
  await eventually(() => all.filter((e) => e.subject === `book-${id}`).length === 3, "three events");
  await eventually(() => lent.some((e) => e.data.loan_id === loan), "the loan");
  a.close();
  b.close();
  const mine = all.filter((e) => e.subject === `book-${id}`).map((e) => e.type);
  assert.deepEqual(mine, ["BookAdded", "BookLent", "BookReturned"]);
  const positions = all.map((e) => e.position);
  assert.deepEqual(positions, [...positions].sort((x, y) => x - y));
  assert.ok(positions[0] > head);
  assert.ok(lent.every((e) => e.type === "BookLent"));
});

test("a bad filter is a problem given to onError, and the subscription stops", async () => {
  const errors = [];
  const got = [];
  const s = client.subscribe({ after: -1 }, (e) => got.push(e), { onError: (e) => errors.push(e), retryMs: 50 });
  await eventually(() => errors.length > 0, "the problem");
  await new Promise((resolve) => setTimeout(resolve, 200));
  s.close();
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof GestaProblem);
  assert.equal(errors[0].status, 400);
  assert.equal(errors[0].field, "after");
  assert.deepEqual(got, []);
});

test("after a drop the subscription resumes with Last-Event-ID: nothing missed, nothing twice", async () => {
  const local = await serve({ db });
  const c = new GestaClient(local.url);
  const start = (await c.collection("books")).position;
  const id = unique("resume");
  const got = [];
  const errors = [];
  const s = c.subscribe({ after: start, category: "book" }, (e) => got.push(e), { onError: (e) => errors.push(e), retryMs: 100 });
  await c.dispatch("AddBook", { id, title: "R", copies: 5 });
  await eventually(() => got.length >= 1, "the first event");
  await local.stop();
  // While it is down, another process on the same database writes.
  const other = await serve({ db });
  const meanwhile = [];
  for (let i = 0; i < 3; i++) {
    meanwhile.push((await new GestaClient(other.url).dispatch("LendBook", { loan_id: unique("loan"), book_id: id, reader: `r${i}` })).position);
  }
  await other.stop();
  const back = await serve({ db, listen: local.listen });
  const last = await c.dispatch("LendBook", { loan_id: unique("loan"), book_id: id, reader: "late" });
  await eventually(() => got.some((e) => e.position === last.position), "the event after the restart", 15_000);
  s.close();
  await back.stop();
  const mine = got.filter((e) => e.subject === `book-${id}`).map((e) => e.position);
  assert.deepEqual(mine.slice(1), [...meanwhile, last.position]);
  const positions = got.map((e) => e.position);
  assert.equal(new Set(positions).size, positions.length, "an event came twice");
  assert.deepEqual(positions, [...positions].sort((x, y) => x - y));
  assert.ok(errors.length > 0, "the drop was reported");
});
