// GraphQL against a real `gesta serve --app library`: mutations and the collections'
// queries (with asOf) over HTTP, and subscriptions with the `graphql-ws` client (the
// graphql-transport-ws protocol) that resume after a drop; with --auth, the token in
// connectionParams, and a socket without one closed with 4403.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, test } from "node:test";

import { createClient } from "graphql-ws";
import WebSocket from "ws";

import { database, gestaBin, serve, unique } from "./support.mjs";

const db = database();
let open;
let secured;
let librarian;

function addKey(name, roles) {
  const run = spawnSync(gestaBin, ["keys", "add", "--db", db, "--name", name, "--roles", roles], {
    encoding: "utf8",
  });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim();
}

before(async () => {
  librarian = addKey(unique("librarian"), "admin");
  open = await serve({ db });
  secured = await serve({ db, args: ["--auth"] });
});
after(async () => {
  await open?.stop();
  await secured?.stop();
});

async function graphql(server, query, variables = {}, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, body: await response.json() };
}

function wsClient(server, connectionParams) {
  return createClient({
    url: `${server.url.replace("http://", "ws://")}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
    lazy: true,
  });
}

/** Collects `n` events of the subscription `events(after: $after)`, then disposes of it. */
function take(client, after, n, category) {
  return new Promise((resolve, reject) => {
    const seen = [];
    const dispose = client.subscribe(
      {
        query:
          "subscription($after: Int, $category: String) { events(after: $after, category: $category) { position type subject data } }",
        variables: { after, category },
      },
      {
        next: ({ data, errors }) => {
          if (errors) return reject(new Error(JSON.stringify(errors)));
          seen.push(data.events);
          if (seen.length === n) {
            dispose();
            resolve(seen);
          }
        },
        error: reject,
        complete: () => {},
      },
    );
  });
}

test("a mutation runs the command; the collections answer as of now and as of before", async () => {
  const id = unique("gql");
  const add = await graphql(
    open,
    `mutation($input: AddBookInput!) { addBook(input: $input) { commandId position events { type subject data } } }`,
    { input: { id, title: "Dune", copies: 2 } },
  );
  assert.equal(add.status, 200);
  const outcome = add.body.data.addBook;
  assert.equal(outcome.events[0].type, "BookAdded");
  assert.equal(outcome.events[0].data.title, "Dune");
  const lend = await graphql(
    open,
    `mutation { lendBook(input: { book_id: "${id}", loan_id: "${id}-l", reader: "ann" }) { position } }`,
  );
  assert.ok(lend.body.data.lendBook.position > outcome.position, JSON.stringify(lend.body));
  const read = await graphql(
    open,
    `query($id: String!, $before: String) { now: book(id: $id) { title copies on_loan } then: book(id: $id, asOf: $before) { on_loan } books { id } }`,
    { id, before: String(outcome.position) },
  );
  assert.deepEqual(read.body.data.now, { title: "Dune", copies: 2, on_loan: 1 });
  assert.deepEqual(read.body.data.then, { on_loan: 0 });
  assert.ok(read.body.data.books.some((b) => b.id === id));
  // A rejection carries the problem in its extensions.
  const again = await graphql(open, `mutation { addBook(input: { id: "${id}", title: "Dune", copies: 1 }) { position } }`);
  assert.equal(again.body.data?.addBook ?? null, null);
  assert.ok([409, 422].includes(again.body.errors[0].extensions.status), JSON.stringify(again.body));
});

test("graphql-ws: a subscription resumes after a drop from the last position it saw", async () => {
  const category = "book";
  const ids = [unique("s1"), unique("s2"), unique("s3")];
  const head = (await graphql(open, "{ events(limit: 1000) { position } }")).body.data.events.at(-1)?.position ?? 0;
  const first = wsClient(open);
  const live = take(first, head, 2, category);
  for (const id of ids.slice(0, 2)) {
    await graphql(open, `mutation { addBook(input: { id: "${id}", title: "T", copies: 1 }) { position } }`);
  }
  const seen = await live;
  await first.dispose();
  assert.deepEqual(
    seen.map((e) => e.subject),
    ids.slice(0, 2).map((id) => `book-${id}`),
  );
  // Written while no one listens; the next client resumes after the last position.
  await graphql(open, `mutation { addBook(input: { id: "${ids[2]}", title: "T", copies: 1 }) { position } }`);
  const second = wsClient(open);
  const resumed = await take(second, seen.at(-1).position, 1, category);
  await second.dispose();
  assert.equal(resumed[0].subject, `book-${ids[2]}`);
  assert.equal(resumed[0].position, seen.at(-1).position + 1);
});

test("with --auth: the token goes in connectionParams; without one the socket closes with 4403", async () => {
  const denied = await graphql(secured, "{ events { position } }");
  assert.equal(denied.status, 401);
  const allowed = await graphql(secured, "{ events(limit: 1) { position } }", {}, librarian);
  assert.equal(allowed.status, 200);
  const client = wsClient(secured, { Authorization: `Bearer ${librarian}` });
  const events = await take(client, 0, 1);
  await client.dispose();
  assert.equal(events[0].position, 1);

  const anonymous = wsClient(secured, {});
  const closed = await take(anonymous, 0, 1).then(
    () => null,
    (err) => err,
  );
  await anonymous.dispose();
  assert.equal(closed?.code, 4403, String(closed));
});
