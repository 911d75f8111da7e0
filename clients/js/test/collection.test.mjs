// The browser's collections follow the server's rules (crates/gesta-js/src/prelude.js)
// and Redux's: the previous state is never changed.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Collection, gestaReducer, hydrate, applyEvent } from "../dist/index.js";

const books = { key: "id", columns: { id: "text", title: "text", copies: "integer", on_loan: "integer" } };
const counters = { key: "n", columns: { n: "integer", value: "real", on: "boolean", meta: "json" } };
const event = (position, type, data) => ({ position, type, data, subject: "s", id: `e${position}` });

test("insert, update, upsert and remove return the collection and copy on the first change", () => {
  const rows = Object.freeze({});
  const c = new Collection("books", books, rows);
  assert.equal(c.insert({ id: "a", title: "A", copies: 1, on_loan: 0 }), c);
  assert.equal(c.update("a", (b) => ({ ...b, on_loan: 1 })), c);
  assert.equal(c.upsert({ id: "b", title: "B", copies: 2 }), c);
  assert.equal(c.remove("missing"), c);
  assert.deepEqual(c.rows, {
    a: { id: "a", title: "A", copies: 1, on_loan: 1 },
    b: { id: "b", title: "B", copies: 2, on_loan: null },
  });
  assert.deepEqual(rows, {});
  c.remove("a");
  assert.deepEqual(Object.keys(c.rows), ["b"]);
});

test("the server's rules: existing insert, missing update, unknown column, wrong type, changed key", () => {
  const c = new Collection("books", books, { a: { id: "a", title: "A", copies: 1, on_loan: 0 } });
  assert.throws(() => c.insert({ id: "a", title: "again" }), /books: a row with key "a" already exists/);
  assert.throws(() => c.update("zz", (b) => b), /books: no row with key "zz" to update/);
  assert.throws(() => c.insert({ id: "c", pages: 3 }), /books: no column named "pages"/);
  assert.throws(() => c.insert({ id: "c", copies: 1.5 }), /books.copies: 1.5 is not integer/);
  assert.throws(() => c.insert({ id: 7 }), /books.id: 7 is not text/);
  assert.throws(() => c.insert({ title: "no key" }), /books: the key id must be a string, not null/);
  assert.throws(() => c.update("a", (b) => ({ ...b, id: "b" })), /books: update may not change the key/);
  assert.throws(() => c.get(1), /the key id must be a string/);
  assert.throws(() => c.insert([1]), /a row must be an object/);
  assert.deepEqual(c.rows, { a: { id: "a", title: "A", copies: 1, on_loan: 0 } });
});

test("integer keys, reals, booleans and json values as the server keeps them", () => {
  const c = new Collection("counters", counters, {});
  c.insert({ n: 1, value: 2.5, on: true, meta: { at: new Date(0), nested: [1, { x: undefined }] } });
  assert.deepEqual(c.get(1), { n: 1, value: 2.5, on: true, meta: { at: "1970-01-01T00:00:00.000Z", nested: [1, {}] } });
  assert.throws(() => c.insert({ n: 2, value: Infinity }), /counters.value: null is not real/);
  assert.throws(() => c.insert({ n: 2, on: 1 }), /counters.on: 1 is not boolean/);
  assert.throws(() => c.get("1"), /must be a safe integer/);
  // What get answers is a copy: changing it changes nothing.
  const row = c.get(1);
  row.meta.nested.push(2);
  assert.deepEqual(c.get(1).meta.nested, [1, {}]);
});

const app = {
  collections: { books, loans: { key: "id", columns: { id: "text", book: "text" } } },
  reducers: {
    books(b, e) {
      if (e.type === "Added") return b.insert({ ...e.data, on_loan: 0 });
      if (e.type === "Lent") return b.update(e.data.book, (x) => ({ ...x, on_loan: x.on_loan + 1 }));
      return b;
    },
    loans(l, e) {
      return e.type === "Lent" ? l.insert({ id: e.data.id, book: e.data.book }) : l;
    },
  },
};

test("gestaReducer: hydrate, events in order, old events ignored, untouched collections keep their identity", () => {
  const reduce = gestaReducer(app);
  let state = reduce(undefined, { type: "@@INIT" });
  assert.deepEqual(state, { position: 0, collections: { books: {}, loans: {} } });
  state = reduce(state, hydrate(3, { books: { x: { id: "x", title: "X", copies: 1, on_loan: 0 } } }));
  assert.deepEqual(state.collections.loans, {});
  const before = state;
  const added = reduce(state, applyEvent(event(4, "Added", { id: "a", title: "A", copies: 2 })));
  assert.equal(added.position, 4);
  assert.equal(added.collections.loans, before.collections.loans);
  assert.notEqual(added.collections.books, before.collections.books);
  assert.deepEqual(Object.keys(before.collections.books), ["x"]);
  assert.equal(reduce(added, applyEvent(event(4, "Added", { id: "a" }))), added);
  assert.equal(reduce(added, applyEvent(event(2, "Added", { id: "b" }))), added);
  const lent = reduce(added, applyEvent(event(5, "Lent", { id: "l1", book: "a" })));
  assert.equal(lent.collections.books.a.on_loan, 1);
  assert.deepEqual(lent.collections.loans, { l1: { id: "l1", book: "a" } });
  const other = reduce(lent, applyEvent(event(6, "Unrelated", {})));
  assert.equal(other.position, 6);
  assert.equal(other.collections, lent.collections);
  assert.equal(reduce(other, { type: "something/else" }), other);
});

test("gestaReducer: a failing reducer, or one not returning its collection, throws and changes nothing", () => {
  const reduce = gestaReducer(app);
  const state = reduce(undefined, hydrate(1, { books: {}, loans: {} }));
  assert.throws(() => reduce(state, applyEvent(event(2, "Lent", { id: "l", book: "nope" }))), /reducer books failed on the event at position 2: .*no row with key "nope"/);
  const bad = gestaReducer({ collections: { books }, reducers: { books: () => undefined } });
  assert.throws(() => bad(state, applyEvent(event(2, "X", {}))), /reducer books must return the collection \(got undefined\)/);
  assert.throws(() => gestaReducer({ collections: {}, reducers: { ghosts: (c) => c } }), /there is no collection ghosts/);
  assert.deepEqual(state, { position: 1, collections: { books: {}, loans: {} } });
});
