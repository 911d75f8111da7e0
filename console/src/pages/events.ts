// `/console/events`: the live tail, newest first, over Server-Sent Events (resumed with
// Last-Event-ID after a drop); filters by type and category, pause, jump to a position.
// Each event opens as its CloudEvent.
import type { GestaEvent } from "@gesta/client";
import { h, fill, num, problem, describe } from "../dom.ts";
import { href, param, go } from "../router.ts";
import type { Ctx } from "../session.ts";

/** Events kept on the page; older ones are dropped from the bottom. */
const KEEP = 1000;
/** How many events a jump to a position shows before Resume. */
const JUMP_PAGE = 200;
/** How many events before the head the tail starts with. */
const BACKLOG = 100;

function list(value: string | null): string[] {
  return (value ?? "").split(",").map((s) => s.trim()).filter(Boolean);
}

/** One event as a row that opens its CloudEvent. */
export function eventRow(event: GestaEvent): HTMLElement {
  const row = h(
    "button",
    { type: "button", class: "row", "aria-expanded": "false", "data-position": event.position },
    h("span", { class: "num" }, num(event.position)),
    h("span", { title: new Date(event.time).toISOString() }, new Date(event.time).toLocaleString()),
    h("span", {}, event.type),
    h("span", { class: "mono" }, event.subject),
    h("span", { class: "mono muted" }, event.commandid ? event.commandid.slice(0, 8) : ""),
  );
  const wrap = h("div", { class: "event" }, row);
  row.addEventListener("click", () => {
    const open = row.getAttribute("aria-expanded") === "true";
    row.setAttribute("aria-expanded", String(!open));
    if (open) {
      wrap.querySelector(".detail")?.remove();
      return;
    }
    wrap.append(
      h(
        "div",
        { class: "detail" },
        h(
          "div",
          { class: "toolbar" },
          h("a", { href: href(`/streams/${encodeURIComponent(event.subject)}`) }, `stream ${event.subject}`),
          event.commandid ? h("a", { href: href(`/commands/${event.commandid}`) }, `command ${event.commandid}`) : null,
        ),
        h("pre", { class: "cloudevent" }, JSON.stringify(event, null, 2)),
      ),
    );
  });
  return wrap;
}

export async function events(ctx: Ctx, main: HTMLElement): Promise<void> {
  const types = list(param("type"));
  const categories = list(param("category"));
  const at = param("at");
  const typeInput = h("input", { name: "type", placeholder: "e.g. Deposited, Withdrawn", value: types.join(", "), "aria-label": "Event types" });
  const categoryInput = h("input", { name: "category", placeholder: "e.g. account", value: categories.join(", "), "aria-label": "Categories" });
  const atInput = h("input", { name: "at", type: "number", min: 1, placeholder: "position", value: at ?? "", "aria-label": "Jump to position" });
  const state = h("span", { class: "badge", id: "tail-state" }, "connecting");
  const pause = h("button", { type: "button", class: "ghost", id: "pause" }, "Pause");
  const count = h("span", { class: "muted" });
  const tail = h("div", { class: "tail", id: "tail", role: "list", "aria-live": "off" });
  const failure = h("div");
  const apply = (e: Event) => {
    e.preventDefault();
    go(href("/events", { type: list(typeInput.value).join(","), category: list(categoryInput.value).join(","), at: atInput.value }));
  };
  fill(
    main,
    h("h1", {}, "Events"),
    h(
      "form",
      { class: "toolbar", onsubmit: apply },
      h("label", {}, "Types", typeInput),
      h("label", {}, "Categories", categoryInput),
      h("label", {}, "From position", atInput),
      h("button", { type: "submit" }, "Apply"),
      pause,
      state,
      count,
    ),
    failure,
    tail,
  );

  let paused = at !== null && at !== "";
  let held: GestaEvent[] = [];
  let shown = 0;
  const show = (batch: GestaEvent[]) => {
    if (batch.length === 0) return;
    // Newest first; the tail keeps its scroll position when rows arrive above it.
    const before = tail.scrollTop;
    const heightBefore = tail.scrollHeight;
    const fragment = document.createDocumentFragment();
    for (let i = batch.length - 1; i >= 0; i--) fragment.append(eventRow(batch[i] as GestaEvent));
    tail.prepend(fragment);
    shown += batch.length;
    while (tail.childElementCount > KEEP) tail.lastElementChild?.remove();
    if (before > 0) tail.scrollTop = before + (tail.scrollHeight - heightBefore);
    count.textContent = `${num(Math.min(shown, KEEP))} shown`;
  };
  const setPaused = (value: boolean) => {
    paused = value;
    pause.textContent = paused ? "Resume" : "Pause";
    state.textContent = paused ? `paused${held.length ? ` (${num(held.length)} waiting)` : ""}` : "live";
    state.className = `badge ${paused ? "warn" : "ok"}`;
    if (!paused) {
      show(held);
      held = [];
    }
  };
  pause.addEventListener("click", () => setPaused(!paused));

  const filter: { type?: string[]; category?: string[] } = {};
  if (types.length) filter.type = types;
  if (categories.length) filter.category = categories;
  let after: number;
  if (at) {
    // Browsing from a position: a page of the log from there, paused; Resume follows on.
    const page = await ctx.client.events({ after: Math.max(0, Number(at) - 1), limit: JUMP_PAGE, ...filter });
    if (!ctx.live()) return;
    show(page);
    after = page[page.length - 1]?.position ?? Math.max(0, Number(at) - 1);
  } else {
    const head = ctx.admin ? (await ctx.client.status()).head : (await ctx.client.health()).last_position;
    after = Math.max(0, head - BACKLOG);
  }
  if (!ctx.live()) return;
  let pending: GestaEvent[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const batch = pending;
    pending = [];
    if (paused) {
      held.push(...batch);
      if (held.length > KEEP) held = held.slice(-KEEP);
      state.textContent = `paused (${num(held.length)} waiting)`;
    } else show(batch);
  };
  const subscription = ctx.client.subscribe(
    { after, ...filter },
    (event) => {
      if (failure.firstChild) failure.replaceChildren();
      if (state.textContent === "connecting") setPaused(paused);
      pending.push(event);
      // Only the newest KEEP can be shown: a hidden tab on a busy store holds no more.
      if (pending.length > 2 * KEEP) pending = pending.slice(-KEEP);
      if (!scheduled) {
        scheduled = true;
        // Frames do not run in a hidden tab; timers do (slowed down).
        if (document.hidden) setTimeout(flush, 100);
        else requestAnimationFrame(flush);
      }
    },
    {
      onError: (error) => {
        if (!ctx.live()) return;
        state.textContent = "reconnecting";
        state.className = "badge bad";
        fill(failure, problem(new Error(describe(error))));
      },
    },
  );
  setPaused(paused);
  ctx.onLeave(() => subscription.close());
}
