// The Gesta console: an ordinary client of the server's public HTTP API.
import { h, fill, problem } from "./dom.ts";
import { route, start, BASE } from "./router.ts";
import { clientFor, forgetToken, probe, storeToken, storedToken, type Ctx } from "./session.ts";
import { overview } from "./pages/overview.ts";
import { events } from "./pages/events.ts";
import { stream } from "./pages/stream.ts";
import { readModel, readModels } from "./pages/read_model.ts";
import { diff } from "./pages/diff.ts";
import { command } from "./pages/command.ts";
import { reactors } from "./pages/reactors.ts";
import { query } from "./pages/query.ts";

type Page = (ctx: Ctx, main: HTMLElement, ...args: string[]) => void | Promise<void>;

/** The routes: a pattern, the page, the nav entry (if any) and whether it needs an admin. */
const ROUTES: { pattern: RegExp; page: Page; nav?: string; path?: string; admin?: boolean }[] = [
  { pattern: /^\/$/, page: overview, nav: "Overview", path: "/" },
  { pattern: /^\/events$/, page: events, nav: "Events", path: "/events" },
  { pattern: /^\/streams\/(.+)$/, page: stream },
  { pattern: /^\/read-models$/, page: readModels, nav: "Read models", path: "/read-models", admin: true },
  { pattern: /^\/read-models\/([^/]+)$/, page: readModel, admin: true },
  { pattern: /^\/diff$/, page: diff, nav: "Diff", path: "/diff", admin: true },
  { pattern: /^\/commands\/([^/]+)$/, page: command, admin: true },
  { pattern: /^\/reactors$/, page: reactors, nav: "Reactors", path: "/reactors", admin: true },
  { pattern: /^\/query$/, page: query, nav: "Query", path: "/query", admin: true },
];

let leave: (() => void)[] = [];
let generation = 0;
let who: { admin: boolean; secured: boolean } | undefined;

function navigation(current: string): void {
  const nav = document.getElementById("nav");
  if (!nav) return;
  fill(
    nav,
    ROUTES.filter((r) => r.nav && (!r.admin || who?.admin)).map((r) => {
      const here = r.path === "/" ? current === "/" : current.startsWith(r.path ?? "\0");
      return h("a", { href: `${BASE}${r.path === "/" ? "/" : r.path}`, "aria-current": here ? "page" : undefined }, r.nav ?? "");
    }),
  );
  const whoEl = document.getElementById("who");
  if (whoEl) {
    fill(
      whoEl,
      who?.secured
        ? [
            who.admin ? "admin" : "signed in",
            " · ",
            h("a", {
              href: "#",
              id: "sign-out",
              onclick: (e: Event) => {
                e.preventDefault();
                forgetToken();
                location.reload();
              },
            }, "sign out"),
          ]
        : "",
    );
  }
}

function login(main: HTMLElement, refused: boolean): void {
  const input = h("input", { id: "api-key", type: "password", autocomplete: "off", placeholder: "gesta_…", "aria-label": "API key", required: true });
  const form = h(
    "form",
    {
      class: "login card",
      onsubmit: (e: Event) => {
        e.preventDefault();
        storeToken(input.value.trim());
        void boot();
      },
    },
    h("h1", {}, "Sign in"),
    h("p", { class: "muted" }, "This server requires an API key (or a JWT). It is kept for this tab's session only."),
    refused ? h("div", { class: "problem", role: "alert" }, "That key was refused.") : null,
    input,
    h("button", { type: "submit" }, "Sign in"),
  );
  fill(main, form);
  input.focus();
}

function render(): void {
  for (const stop of leave) stop();
  leave = [];
  const mine = ++generation;
  const main = document.getElementById("main") as HTMLElement;
  const path = route();
  navigation(path);
  if (!who) return;
  const client = clientFor(storedToken());
  const ctx: Ctx = {
    client,
    admin: who.admin,
    secured: who.secured,
    onLeave: (stop) => leave.push(stop),
    live: () => mine === generation,
  };
  for (const r of ROUTES) {
    const m = r.pattern.exec(path);
    if (!m) continue;
    if (r.admin && !who.admin) {
      fill(main, h("h1", {}, "Admins only"), h("p", { class: "muted" }, "This page uses the admin routes; your key is not an admin's."));
      return;
    }
    const args = m.slice(1).map((s) => decodeURIComponent(s));
    fill(main);
    Promise.resolve(r.page(ctx, main, ...args)).catch((error: unknown) => {
      if (ctx.live()) main.append(problem(error));
    });
    return;
  }
  fill(main, h("h1", {}, "Not found"), h("p", {}, "No such page in the console. ", h("a", { href: `${BASE}/` }, "Overview")));
}

async function boot(): Promise<void> {
  const main = document.getElementById("main") as HTMLElement;
  const token = storedToken();
  try {
    const answer = await probe(clientFor(token));
    if (answer === "unauthenticated") {
      if (token !== undefined) forgetToken();
      who = undefined;
      navigation(route());
      login(main, token !== undefined);
      return;
    }
    who = answer;
  } catch (error) {
    fill(main, problem(error));
    return;
  }
  render();
}

function theme(): void {
  const saved = localStorage.getItem("gesta.console.theme");
  if (saved === "light" || saved === "dark") document.documentElement.dataset.theme = saved;
  const toggle = () => {
    const dark = document.documentElement.dataset.theme
      ? document.documentElement.dataset.theme === "dark"
      : matchMedia("(prefers-color-scheme: dark)").matches;
    const next = dark ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    localStorage.setItem("gesta.console.theme", next);
  };
  document.getElementById("theme")?.addEventListener("click", toggle);
  addEventListener("keydown", (e) => {
    const target = e.target as HTMLElement;
    if (e.key === "t" && !e.ctrlKey && !e.metaKey && !e.altKey && !/^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) toggle();
  });
}

theme();
start(() => {
  if (who) render();
});
void boot();
