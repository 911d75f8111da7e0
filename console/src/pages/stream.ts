// `/console/streams/{stream}`: one stream's events with version, type, time and data,
// a page at a time.
import { h, fill, num, time } from "../dom.ts";
import { href, param } from "../router.ts";
import type { Ctx } from "../session.ts";

const PAGE = 100;

export async function stream(ctx: Ctx, main: HTMLElement, name: string): Promise<void> {
  const from = Math.max(1, Number(param("from_version") ?? "1") || 1);
  const page = await ctx.client.stream(name, { fromVersion: from, limit: PAGE });
  if (!ctx.live()) return;
  const link = (version: number, text: string) => h("a", { href: href(`/streams/${encodeURIComponent(name)}`, { from_version: version }) }, text);
  const last = page.events[page.events.length - 1];
  fill(
    main,
    h("h1", {}, "Stream ", h("code", {}, name)),
    h(
      "div",
      { class: "pager" },
      from > 1 ? link(Math.max(1, from - PAGE), "← Earlier") : null,
      page.events.length ? `versions ${num(from)}–${num(last?.streamversion)}` : "no events from this version",
      page.events.length === PAGE && last ? link(last.streamversion + 1, "Later →") : null,
    ),
    page.events.length === 0
      ? h("p", { class: "muted" }, from > 1 ? "No events from this version on." : "This stream has no events (or you may not read it).")
      : h(
          "div",
          { class: "scroll" },
          h(
            "table",
            { id: "stream-events" },
            h("thead", {}, h("tr", {}, ["version", "position", "type", "time", "command", "data"].map((c) => h("th", { scope: "col" }, c)))),
            h(
              "tbody",
              {},
              page.events.map((e) =>
                h(
                  "tr",
                  { "data-version": e.streamversion },
                  h("td", { class: "num" }, num(e.streamversion)),
                  h("td", { class: "num" }, h("a", { href: href("/events", { at: e.position }) }, num(e.position))),
                  h("td", {}, e.type),
                  h("td", {}, time(e.time)),
                  h("td", { class: "mono" }, e.commandid && ctx.admin ? h("a", { href: href(`/commands/${e.commandid}`) }, e.commandid.slice(0, 8)) : (e.commandid ?? "").slice(0, 8)),
                  h("td", { class: "mono wrap" }, JSON.stringify(e.data)),
                ),
              ),
            ),
          ),
        ),
  );
}
