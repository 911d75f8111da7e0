// Redux 5 stores kept in sync with a real server: under concurrent commands, the
// browser's collections, run through the app module's own reducers, equal the
// server's tables at the same position.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { combineReducers, legacy_createStore as createStore } from "redux";

import { GestaClient, gestaReducer, sync } from "../dist/index.js";
import { byKey, database, fixtures, libraryApp, serve, unique } from "./support.mjs";

const library = (await import(libraryApp)).default;
const kinds = (await import(join(fixtures, "kinds.mjs"))).default;

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

/** The server's collections at `position`, as the Redux state holds them. */
async function serverState(c, app, position) {
  const collections = {};
  for (const [name, def] of Object.entries(app.collections)) {
    collections[name] = byKey((await c.collection(name, { asOf: position })).rows, def.key);
  }
  return { position, collections };
}

/** A deterministic pseudo-random sequence. */
function random(seed) {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

test("sync follows concurrent commands: Redux state equals the server's tables", async () => {
  const store = createStore(gestaReducer(library));
  const first = sync(client, store, library);
  const run = unique("c");
  const books = Array.from({ length: 6 }, (_, i) => `${run}-b${i}`);
  const loans = [];
  let head = 0;
  let late;
  const worker = async (seed) => {
    const next = random(seed);
    for (let i = 0; i < 30; i++) {
      const roll = next();
      let command;
      if (roll < 0.25) command = ["AddBook", { id: books[Math.floor(next() * books.length)], title: `t${seed}-${i}`, copies: 1 + Math.floor(next() * 2) }];
      else if (roll < 0.7 || loans.length === 0) {
        const loan = `${run}-l${seed}-${i}`;
        loans.push(loan);
        command = ["LendBook", { loan_id: loan, book_id: books[Math.floor(next() * books.length)], reader: `r${seed}` }];
      } else command = ["ReturnBook", { loan_id: loans[Math.floor(next() * loans.length)] }];
      try {
        const outcome = await client.dispatch(...command);
        head = Math.max(head, outcome.position);
      } catch (error) {
        if (error.status !== 422) throw error; // rejections are part of the mix
      }
      // A second store starts halfway, while commands are committing.
      if (seed === 1 && i === 15) {
        late = { store: createStore(combineReducers({ library: gestaReducer(library) })) };
        late.sync = sync(client, late.store, library, { select: (s) => s.library });
      }
    }
  };
  await Promise.all([1, 2, 3, 4].map(worker));
  assert.ok(head > 0);
  await first.caughtUp(head);
  await late.sync.caughtUp(head);
  const expected = await serverState(client, library, head);
  assert.ok(Object.keys(expected.collections.books).some((id) => id.startsWith(run)));
  // Later events may have arrived: compare at the same position.
  if (store.getState().position === head) assert.deepEqual(store.getState(), expected);
  assert.deepEqual(late.store.getState().library.collections, store.getState().collections);
  const now = store.getState().position;
  assert.deepEqual(store.getState(), await serverState(client, library, now));
  first.close();
  late.sync.close();
  await assert.rejects(first.caughtUp(head + 1_000_000), /closed/);
});

test("every column type, upserts, removes and mutating-style reducers match the server", async () => {
  const kindsServer = await serve({ app: join(fixtures, "kinds.mjs"), db: database() });
  const c = new GestaClient(kindsServer.url);
  try {
    const store = createStore(gestaReducer(kinds));
    const handle = sync(c, store, kinds);
    let head = 0;
    const puts = [
      { n: 1, label: "one", score: 1.5, ok: true, extra: { deep: [1, "two", { three: null }] }, tags: ["a", "b"] },
      { n: 2, score: 2, ok: false, extra: "text", tags: ["a"] },
      { n: 3, label: "ünïcødé ✓", extra: [1, 2, 3] },
      { n: 1, label: "uno", tags: ["b", "b", "c"] },
      { n: 4, score: -0.25, ok: true, extra: 42 },
    ];
    for (const put of puts) head = (await c.dispatch("Put", put)).position;
    head = (await c.dispatch("Drop", { n: 2 })).position;
    const refused = await c.dispatch("Drop", { n: 2 }).catch((e) => e);
    assert.equal(refused.status, 422);
    await handle.caughtUp(head);
    const state = store.getState();
    assert.deepEqual(state, await serverState(c, kinds, head));
    assert.deepEqual(state.collections.tags, {
      a: { id: "a", count: 2 },
      b: { id: "b", count: 3 },
      c: { id: "c", count: 1 },
    });
    assert.deepEqual(state.collections.things["1"], { n: 1, label: "uno", score: null, ok: null, extra: null });
    handle.close();
  } finally {
    await kindsServer.stop();
  }
});
