// The console in headless Chromium against a real bank server on SQLite: every page
// loads with the bank's data; the history slider shows an earlier balance; a deposit
// made through the API shows in the tail within a second; Revert changes the balance
// and the overview's head; a refused revert says why; with --auth a customer's key sees
// only their own stream; the first load stays under its size budget.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { chromium } from "playwright-core";

import { api, balances, bank, chromiumArgs, chromiumPath, command, dataDir, root, screenshotDirs } from "./support.mjs";

const present = existsSync(chromiumPath);
if (!present && process.env.CI === "true") throw new Error(`${chromiumPath} is missing under CI=true: install Debian's chromium package`);
if (!present) console.error(`console browser tests left out: they need ${chromiumPath} (apt-get install -y chromium)`);

let server;
let call;
let browser;
const seeded = {};

before(async () => {
  if (!present) return;
  server = await bank();
  call = api(server.url);
  await command(call, "OpenAccount", { account_id: "alice", owner: "Alice" });
  await command(call, "OpenAccount", { account_id: "bob", owner: "Bob" });
  seeded.deposit = await command(call, "Deposit", { account_id: "alice", amount: 1000 });
  seeded.transfer = await command(call, "Transfer", { from: "alice", to: "bob", amount: 300 });
  browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A new page (own session storage) that records uncaught errors. */
async function page({ dark = false } = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: dark ? "dark" : "light", timezoneId: "Europe/Paris", locale: "en-US" });
  const p = await context.newPage();
  p.errors = [];
  p.on("pageerror", (error) => p.errors.push(error));
  return p;
}

async function shot(p, name) {
  for (const dir of screenshotDirs()) await p.screenshot({ path: join(dir, `${name}.png`) });
}

const cellTexts = (p, selector) => p.locator(selector).allTextContents();

/** The cells of column `name` of the table in `scope` (rows are objects: columns come in key order). */
async function column(p, scope, name) {
  const headers = await p.locator(`${scope} thead th`).allTextContents();
  const index = headers.indexOf(name);
  assert.ok(index >= 0, `no column ${name} in ${JSON.stringify(headers)}`);
  return p.locator(`${scope} tbody tr td:nth-child(${index + 1})`).allTextContents();
}

test("every page loads with the bank's data", { skip: !present }, async () => {
  const p = await page();
  const head = seeded.transfer.position;

  await p.goto(`${server.url}/console/`);
  await p.locator("#head").filter({ hasText: String(head) }).waitFor();
  await p.locator("#workers").getByText("welcome-email").waitFor();
  await p.locator("#subscribers").filter({ hasText: /^\d+$/ }).waitFor();

  await p.goto(`${server.url}/console/events`);
  await p.locator(`#tail [data-position="${head}"]`).waitFor();
  assert.equal(await p.locator("#tail .row").count(), head);
  // Newest first; a row opens as its CloudEvent.
  assert.equal(await p.locator("#tail .row").first().getAttribute("data-position"), String(head));
  await p.locator(`#tail [data-position="${seeded.deposit.position}"]`).click();
  const cloudevent = JSON.parse(await p.locator("pre.cloudevent").textContent());
  assert.equal(cloudevent.type, "Deposited");
  assert.equal(cloudevent.specversion, "1.0");
  assert.deepEqual(cloudevent.data, { account_id: "alice", amount: 1000 });

  await p.goto(`${server.url}/console/streams/account-alice`);
  await p.locator("#stream-events").waitFor();
  assert.deepEqual(await cellTexts(p, "#stream-events tbody tr td:nth-child(3)"), ["AccountOpened", "Deposited", "TransferSent"]);

  await p.goto(`${server.url}/console/read-models/accounts`);
  await p.locator("#rows table").waitFor();
  assert.deepEqual(await column(p, "#rows", "id"), ["alice", "bob"]);
  assert.deepEqual(await column(p, "#rows", "balance"), ["700", "300"]);

  await p.goto(`${server.url}/console/read-models`);
  await p.getByRole("link", { name: "accounts" }).waitFor();

  await p.goto(`${server.url}/console/diff?from=0&to=${head}`);
  await p.locator('[data-table="accounts"] tr.inserted').first().waitFor();
  assert.equal(await p.locator('[data-table="accounts"] tr.inserted').count(), 2);

  await p.goto(`${server.url}/console/commands/${seeded.transfer.command_id}`);
  await p.locator("#changes tr.updated").first().waitFor();
  assert.equal(await p.locator(".event-card").count(), 2);
  assert.deepEqual(await cellTexts(p, "#changes td.changed .before"), ["1,000", "0"]);
  assert.deepEqual(await cellTexts(p, "#changes td.changed .after"), ["700", "300"]);
  await shot(p, "command");

  await p.goto(`${server.url}/console/reactors`);
  await p.locator('[data-name="welcome-email"]').waitFor();

  await p.goto(`${server.url}/console/query?sql=${encodeURIComponent("SELECT id, balance FROM accounts ORDER BY id")}&as_of=${seeded.deposit.position}`);
  await p.locator("#result table").waitFor();
  assert.deepEqual(await column(p, "#result", "balance"), ["1,000", "0"]);
  await p.fill("#sql", "DELETE FROM accounts");
  await p.click("#run");
  await p.locator("#result .problem").filter({ hasText: /read-only/ }).waitFor();

  await p.goto(`${server.url}/console/nowhere`);
  await p.getByRole("heading", { name: "Not found" }).waitFor();
  assert.deepEqual(p.errors, []);
});

test("the history slider shows the balances as of an earlier position and puts it in the address", { skip: !present }, async () => {
  const p = await page();
  await p.goto(`${server.url}/console/read-models/accounts`);
  await p.locator("#as-of-label").filter({ hasText: "live" }).waitFor();
  await p.locator("#as-of").fill(String(seeded.deposit.position));
  await p.locator("#as-of-label").filter({ hasText: `as of position ${seeded.deposit.position}` }).waitFor();
  assert.deepEqual(await column(p, "#rows", "balance"), ["1,000", "0"]);
  assert.equal(new URL(p.url()).searchParams.get("as_of"), String(seeded.deposit.position));
  await shot(p, "read-model");

  // Keyboard: the slider moves one position per arrow key.
  await p.locator("#as-of").focus();
  await p.keyboard.press("ArrowLeft");
  await p.locator("#as-of-label").filter({ hasText: `as of position ${seeded.deposit.position - 1}` }).waitFor();
  assert.deepEqual(await column(p, "#rows", "balance"), ["0", "0"]);

  // A deep link with a time: before the first event there are no accounts.
  await p.goto(`${server.url}/console/read-models/accounts?as_of=2000-01-01T00:00:00Z`);
  await p.locator("#as-of-label").filter({ hasText: "as of position 0" }).waitFor();
  await p.getByText("No rows.").waitFor();
  await p.click("#as-of-now");
  await p.locator("#as-of-label").filter({ hasText: "live" }).waitFor();
  assert.equal(new URL(p.url()).searchParams.get("as_of"), null);
  assert.deepEqual(p.errors, []);
});

test("a deposit made through the API shows in the tail within a second", { skip: !present }, async () => {
  const p = await page();
  await p.goto(`${server.url}/console/events`);
  await p.locator("#tail-state").filter({ hasText: "live" }).waitFor();
  await p.locator("#tail .row").first().waitFor();
  const made = await command(call, "Deposit", { account_id: "bob", amount: 1 });
  const sent = Date.now();
  await p.locator(`#tail [data-position="${made.position}"]`).waitFor({ timeout: 1000 });
  const took = Date.now() - sent;
  assert.ok(took < 1000, `took ${took} ms`);
  assert.equal(await p.locator("#tail .row").first().getAttribute("data-position"), String(made.position));

  // Rows arriving above a scrolled tail do not move what the reader is looking at.
  for (let i = 0; i < 40; i++) await command(call, "Deposit", { account_id: "alice", amount: 1 });
  const lastFiller = (await call("GET", "/healthz")).body.last_position;
  await p.locator(`#tail [data-position="${lastFiller}"]`).waitFor();
  await p.locator("#tail").evaluate((tail) => {
    tail.scrollTop = 200;
  });
  const topRow = () =>
    p.locator("#tail").evaluate((tail) => {
      const box = tail.getBoundingClientRect();
      return document.elementFromPoint(box.left + 20, box.top + 5)?.closest(".row")?.getAttribute("data-position");
    });
  const seen = await topRow();
  const more = await command(call, "Deposit", { account_id: "alice", amount: 1 });
  await p.locator(`#tail [data-position="${more.position}"]`).waitFor();
  assert.equal(await topRow(), seen);

  // Paused, new events wait; resumed, they show.
  await p.click("#pause");
  const held = await command(call, "Deposit", { account_id: "bob", amount: 1 });
  await p.locator("#tail-state").filter({ hasText: "1 waiting" }).waitFor();
  assert.equal(await p.locator(`#tail [data-position="${held.position}"]`).count(), 0);
  await p.click("#pause");
  await p.locator(`#tail [data-position="${held.position}"]`).waitFor();

  // Filters go into the address and the tail shows only matching events.
  await p.fill("[name=type]", "TransferSent");
  await p.press("[name=type]", "Enter");
  await p.locator(`#tail [data-position="${seeded.transfer.position - 1}"]`).waitFor();
  assert.equal(new URL(p.url()).searchParams.get("type"), "TransferSent");
  assert.deepEqual(await cellTexts(p, "#tail .row span:nth-child(3)"), ["TransferSent"]);
  assert.deepEqual(p.errors, []);
});

test("Revert from the command page changes the balance and the overview's head; a refused revert says why", { skip: !present }, async () => {
  const p = await page();
  const before = await balances(call);
  const gift = await command(call, "Deposit", { account_id: "bob", amount: 50 });
  await p.goto(`${server.url}/console/commands/${gift.command_id}`);
  await p.locator("#changes td.changed").waitFor();
  await p.click("#revert");
  // The dialog asks first; Cancel changes nothing.
  await p.click("#cancel");
  assert.equal((await balances(call)).bob, before.bob + 50);
  await p.click("#revert");
  await p.click("#confirm");
  await p.locator("#revert-position").waitFor();
  const position = Number((await p.locator("#revert-position").textContent()).replace(/\D/g, ""));
  assert.equal((await balances(call)).bob, before.bob);
  const { body: health } = await call("GET", "/healthz");
  assert.equal(health.last_position, position);
  await p.goto(`${server.url}/console/`);
  await p.locator("#head").filter({ hasText: position.toLocaleString("en-US") }).waitFor();
  // Some traffic for the chart, then the overview's picture.
  for (let i = 0; i < 30; i++) {
    await Promise.all([1, 2, 3].map((n) => command(call, "Deposit", { account_id: "alice", amount: n + (i % 5) })));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await p.waitForTimeout(1200);
  await shot(p, "overview");

  // A revert the later history depends on is refused, with the reason in words.
  const big = await command(call, "Deposit", { account_id: "bob", amount: 5000 });
  await command(call, "Withdraw", { account_id: "bob", amount: before.bob + 5000 });
  await p.goto(`${server.url}/console/commands/${big.command_id}`);
  await p.click("#revert");
  await p.click("#confirm");
  const refused = p.locator("#revert-refused");
  await refused.waitFor();
  assert.match(await refused.textContent(), /cannot be reverted: .*(Withdr|insufficient|fail)/i);
  assert.equal((await balances(call)).bob, 0);
  assert.deepEqual(p.errors, []);
});

test("a parked reactor event can be retried and skipped from the reactors page", { skip: !present }, async () => {
  // The welcome reactor cannot write its outbox (a directory): the event is parked after 5 attempts.
  const broken = await bank({ outbox: dataDir });
  try {
    const b = api(broken.url);
    const opened = await command(b, "OpenAccount", { account_id: "carol", owner: "Carol" });
    const parked = async () => (await b("GET", "/admin/reactors")).body.reactors.find((r) => r.name === "welcome-email");
    for (let i = 0; (await parked()).parked === 0; i++) {
      assert.ok(i < 200, "the event was not parked");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const p = await page();
    await p.goto(`${broken.url}/console/`);
    await p.locator("#workers a", { hasText: "1" }).click();
    const row = p.locator(`[data-name="welcome-email"] tr[data-position="${opened.position}"]`);
    await row.waitFor();
    assert.match(await row.textContent(), /AccountOpened/);
    await row.locator("button.retry").click();
    await p.getByText(`Retry of position ${opened.position} requested.`).waitFor();
    await row.locator("button.skip").click();
    await p.getByText(`Position ${opened.position} skipped`).waitFor();
    await row.waitFor({ state: "detached" });
    assert.equal((await parked()).parked, 0);
    assert.deepEqual(p.errors, []);
  } finally {
    await broken.stop();
  }
});

test("thousands of rows come a page at a time", { skip: !present }, async () => {
  const many = await bank();
  try {
    const b = api(many.url);
    await Promise.all(Array.from({ length: 250 }, (_, i) => command(b, "OpenAccount", { account_id: `acct-${String(i).padStart(3, "0")}`, owner: "Many" })));
    const p = await page();
    await p.goto(`${many.url}/console/read-models/accounts`);
    await p.getByText("rows 1–100 of 250").waitFor();
    assert.equal(await p.locator("#rows tbody tr").count(), 100);
    await p.getByRole("button", { name: "Next →" }).click();
    await p.getByText("rows 101–200 of 250").waitFor();
    assert.equal(new URL(p.url()).searchParams.get("offset"), "100");
    assert.equal((await column(p, "#rows", "id"))[0], "acct-100");
    await p.getByRole("button", { name: "Next →" }).click();
    await p.getByText("rows 201–250 of 250").waitFor();
    assert.ok(await p.getByRole("button", { name: "Next →" }).isDisabled());
    // Jumping to a position shows a page of the log from there, paused; Resume follows on.
    await p.goto(`${many.url}/console/events?at=1`);
    await p.locator('#tail [data-position="200"]').waitFor();
    assert.equal(await p.locator("#tail .row").count(), 200);
    assert.equal(await p.locator("#tail .row").last().getAttribute("data-position"), "1");
    await p.locator("#tail-state").filter({ hasText: "50 waiting" }).waitFor();
    await p.click("#pause");
    await p.locator('#tail [data-position="250"]').waitFor();
    assert.equal(await p.locator("#tail .row").count(), 250);
    assert.deepEqual(p.errors, []);
  } finally {
    await many.stop();
  }
});

test("keyboard and themes: t switches light and dark, event rows open with Enter", { skip: !present }, async () => {
  const p = await page({ dark: true });
  await p.goto(`${server.url}/console/events`);
  await p.locator("#tail .row").first().waitFor();
  const background = () => p.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const dark = await background();
  await p.locator("body").press("t");
  assert.notEqual(await background(), dark);
  await p.locator("#tail .row").first().focus();
  await p.keyboard.press("Enter");
  await p.locator("pre.cloudevent").waitFor();
  assert.deepEqual(p.errors, []);
});

test("the first load is under 200 kB compressed and needs no other host", { skip: !present }, async () => {
  const p = await page();
  const urls = [];
  p.on("request", (r) => urls.push(r.url()));
  await p.goto(`${server.url}/console/`);
  await p.locator("#head").filter({ hasText: /\d/ }).waitFor();
  const origin = new URL(server.url).origin;
  assert.deepEqual(urls.filter((u) => new URL(u).origin !== origin), []);
  const assets = [...new Set(urls.filter((u) => new URL(u).pathname.startsWith("/console")))];
  assert.ok(assets.some((u) => u.endsWith("/console.js")) && assets.some((u) => u.endsWith("/console.css")), JSON.stringify(assets));
  let total = 0;
  for (const url of assets) total += await compressedSize(url);
  console.log(`console first load: ${assets.length} files, ${total} bytes gzip-compressed`);
  assert.ok(total < 200 * 1024, `${total} bytes`);
});

test("--no-console turns it off", { skip: !present }, async () => {
  const off = await bank({ args: ["--no-console"] });
  try {
    const { status } = await api(off.url)("GET", "/console/");
    assert.equal(status, 404);
  } finally {
    await off.stop();
  }
});

test("with --auth the console asks for a key once and a customer sees only their own stream", { skip: !present || !process.env.GESTA_CONSOLE_AUTH_DB }, async () => {
  const keys = JSON.parse(process.env.GESTA_CONSOLE_KEYS);
  const secured = await bank({ db: process.env.GESTA_CONSOLE_AUTH_DB, args: ["--auth", "--policy", join(root, "examples", "bank", "policy.toml")] });
  try {
    const admin = api(secured.url, keys.admin);
    await command(admin, "OpenAccount", { account_id: "alice", owner: "Alice" });
    await command(admin, "OpenAccount", { account_id: "bob", owner: "Bob" });
    await command(admin, "Deposit", { account_id: "bob", amount: 70 });
    const mine = await command(admin, "Deposit", { account_id: "alice", amount: 20 });

    const p = await page();
    await p.goto(`${secured.url}/console/events`);
    await p.locator("#api-key").fill("gesta_not_a_key");
    await p.locator("#api-key").press("Enter");
    await p.getByText("That key was refused.").waitFor();
    await p.locator("#api-key").fill(keys.alice);
    await p.locator("#api-key").press("Enter");
    await p.locator(`#tail [data-position="${mine.position}"]`).waitFor();
    const streams = await cellTexts(p, "#tail .row span:nth-child(4)");
    assert.ok(streams.length >= 2 && streams.every((s) => s === "account-alice"), JSON.stringify(streams));
    // No admin pages for a customer; the key is kept for the tab's session.
    const nav = await cellTexts(p, "#nav a");
    assert.deepEqual(nav, ["Overview", "Events"]);
    await p.goto(`${secured.url}/console/read-models/accounts`);
    await p.getByRole("heading", { name: "Admins only" }).waitFor();
    await p.goto(`${secured.url}/console/streams/account-bob`);
    await p.locator(".problem").waitFor();
    await p.click("#sign-out");
    await p.locator("#api-key").waitFor();

    await p.locator("#api-key").fill(keys.admin);
    await p.locator("#api-key").press("Enter");
    await p.locator("#nav").getByText("Query").waitFor();
    await p.goto(`${secured.url}/console/events`);
    await p.locator('#tail .row span:nth-child(4)', { hasText: "account-bob" }).first().waitFor();
    assert.deepEqual(p.errors, []);
  } finally {
    await secured.stop();
  }
});

/** The bytes of `url` as sent with `Accept-Encoding: gzip`. */
function compressedSize(url) {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { "accept-encoding": "gzip" } }, (res) => {
      let size = 0;
      res.on("data", (chunk) => {
        size += chunk.length;
      });
      res.on("end", () => resolve(size));
    });
    req.on("error", reject);
    req.end();
  });
}
