// The library page in headless Chromium (Debian's, driven by playwright-core): two
// pages; a command in one shows up in the other, and under concurrent commands both
// pages' Redux state equals the server's tables.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { chromium } from "playwright-core";

import { GestaClient } from "../dist/index.js";
import { byKey, database, libraryDir, serve, unique } from "./support.mjs";

const CHROMIUM = process.env.GESTA_CHROMIUM ?? "/usr/bin/chromium";
const present = existsSync(CHROMIUM);
if (!present && process.env.CI === "true") throw new Error(`${CHROMIUM} is missing under CI=true: install Debian's chromium package`);
if (!present) console.error(`browser test left out: it needs ${CHROMIUM} (apt-get install -y chromium)`);

let server;
let browser;

before(async () => {
  if (!present) return;
  server = await serve({ db: database(), args: ["--static", join(libraryDir, "static")] });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-proxy-server"],
  });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function open() {
  const page = await (await browser.newContext()).newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error));
  await page.goto(`${server.url}/index.html`);
  await page.waitForFunction(() => window.gesta && document.getElementById("status").textContent === "live");
  return { page, errors };
}

test("two pages: a command in one shows up in the other; state equals the server's under concurrent commands", { skip: !present }, async () => {
  const a = await open();
  const b = await open();
  const id = unique("b");

  await a.page.fill("#add-book [name=id]", id);
  await a.page.fill("#add-book [name=title]", "The Left Hand of Darkness");
  await a.page.fill("#add-book [name=copies]", "3");
  await a.page.click("#add-book button");
  await a.page.waitForFunction(() => /committed at position/.test(document.getElementById("outcome").textContent));
  const row = b.page.locator(`#books tr[data-key="${id}"]`);
  await row.waitFor();
  assert.deepEqual(await row.locator("td").allTextContents(), [id, "The Left Hand of Darkness", "3", "0"]);

  // A refused command shows its problem and changes nothing.
  await b.page.fill("#add-book [name=id]", id);
  await b.page.fill("#add-book [name=title]", "again");
  await b.page.click("#add-book button");
  await b.page.waitForFunction(() => document.getElementById("outcome").className === "problem");
  assert.match(await b.page.textContent("#outcome"), new RegExp(`422 .*book ${id} already exists`));

  // Concurrent commands from both pages and from Node.
  const fire = (page, prefix) =>
    page.evaluate(
      async ({ id, prefix }) => {
        const { client } = window.gesta;
        let head = 0;
        for (let i = 0; i < 12; i++) {
          const loan = `${prefix}-${i}`;
          for (const [name, data] of [["LendBook", { loan_id: loan, book_id: id, reader: prefix }], ["ReturnBook", { loan_id: loan }]]) {
            try {
              head = Math.max(head, (await client.dispatch(name, data)).position);
            } catch (error) {
              if (error.status !== 422) throw error;
            }
          }
        }
        return head;
      },
      { id, prefix },
    );
  const node = new GestaClient(server.url);
  const fromNode = (async () => {
    let head = 0;
    for (let i = 0; i < 10; i++) head = (await node.dispatch("AddBook", { id: `${id}-n${i}`, title: `n${i}`, copies: 1 })).position;
    return head;
  })();
  const heads = await Promise.all([fire(a.page, unique("pa")), fire(b.page, unique("pb")), fromNode]);
  const head = Math.max(...heads);

  const states = [];
  for (const { page } of [a, b]) {
    states.push(await page.evaluate(async (head) => {
      await window.gesta.handle.caughtUp(head);
      return window.gesta.store.getState();
    }, head));
  }
  for (const state of states) {
    assert.ok(state.position >= head);
    const expected = {};
    for (const name of ["books", "loans"]) expected[name] = byKey((await node.collection(name, { asOf: state.position })).rows, "id");
    assert.deepEqual(state.collections, expected);
    assert.equal(expected.books[id].on_loan, 0);
  }
  assert.deepEqual(a.errors, []);
  assert.deepEqual(b.errors, []);
});
