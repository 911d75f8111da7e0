// `/console/reactors`: every reactor with its lag, and its parked events with Retry and
// Skip.
import type { ParkedEvent, ReactorStatus } from "@gesta/client";
import { h, fill, num, problem, time, describe } from "../dom.ts";
import { href } from "../router.ts";
import type { Ctx } from "../session.ts";

export async function reactors(ctx: Ctx, main: HTMLElement): Promise<void> {
  const out = h("div", { id: "reactors" });
  const notice = h("div", { "aria-live": "polite" });
  fill(main, h("h1", {}, "Reactors"), notice, out);

  const act = async (what: string, run: () => Promise<void>) => {
    try {
      await run();
      fill(notice, h("div", { class: "notice", role: "status" }, what));
    } catch (error) {
      fill(notice, h("div", { class: "problem", role: "alert" }, describe(error)));
    }
    await refresh();
  };
  const parkedRow = (reactor: ReactorStatus, p: ParkedEvent) =>
    h(
      "tr",
      { "data-position": p.position },
      h("td", { class: "num" }, h("a", { href: href("/events", { at: p.position }) }, num(p.position))),
      h("td", {}, p.type),
      h("td", { class: "mono" }, h("a", { href: href(`/streams/${encodeURIComponent(p.stream)}`) }, p.stream)),
      h("td", { class: "num" }, num(p.attempts)),
      h("td", { class: "wrap mono" }, p.error),
      h("td", {}, time(p.parked_at)),
      h(
        "td",
        {},
        h("button", { type: "button", class: "ghost retry", disabled: p.retry_requested, onclick: () => void act(`Retry of position ${p.position} requested.`, () => ctx.client.retryParked(reactor.name, p.position)) }, p.retry_requested ? "Retry requested" : "Retry"),
        " ",
        h("button", { type: "button", class: "ghost skip", onclick: () => void act(`Position ${p.position} skipped: ${reactor.name} will never handle it.`, () => ctx.client.skipParked(reactor.name, p.position)) }, "Skip"),
      ),
    );
  const refresh = async () => {
    try {
      const status = await ctx.client.reactors({ parkedLimit: 1000 });
      if (!ctx.live()) return;
      fill(
        out,
        status.reactors.length === 0
          ? h("p", { class: "muted" }, "No reactors.")
          : status.reactors.map((r) =>
              h(
                "section",
                { class: "reactor", "data-name": r.name },
                h("h2", {}, r.name, " ", h("span", { class: `badge ${r.running ? "ok" : ""}` }, r.running ? "running here" : r.registered ? "registered" : "not running here")),
                h("p", { class: "muted" }, `checkpoint ${num(r.checkpoint)} · position ${num(r.position)} · lag ${num(r.lag)} · head ${num(status.head)} · parked ${num(r.parked)} · updated `, time(r.updated_at)),
                r.parked_events.length === 0
                  ? h("p", { class: "muted" }, "Nothing parked.")
                  : h(
                      "div",
                      { class: "scroll" },
                      h(
                        "table",
                        {},
                        h("thead", {}, h("tr", {}, ["position", "type", "stream", "attempts", "error", "parked", ""].map((c) => h("th", { scope: "col" }, c)))),
                        h("tbody", {}, r.parked_events.map((p) => parkedRow(r, p))),
                      ),
                    ),
              ),
            ),
      );
    } catch (error) {
      if (ctx.live()) fill(out, problem(error));
    }
  };
  await refresh();
  const timer = setInterval(() => void refresh(), 5000);
  ctx.onLeave(() => clearInterval(timer));
}
