// `/console/commands/{command_id}`: what one command did — its events, and the rows it
// changed with the values before and after — and, for admins, a Revert button that asks
// for confirmation, then shows the new position or why it was refused.
import type { GestaEvent } from "@gesta/client";
import { h, fill, num, time, describe, status } from "../dom.ts";
import { href } from "../router.ts";
import type { Ctx } from "../session.ts";
import { diffView } from "./diff_view.ts";

function card(event: GestaEvent): HTMLElement {
  return h(
    "article",
    { class: "event-card", "data-position": event.position },
    h(
      "header",
      {},
      h("strong", {}, event.type),
      h("a", { href: href(`/streams/${encodeURIComponent(event.subject)}`), class: "mono" }, `${event.subject} v${event.streamversion}`),
      h("span", { class: "muted" }, "position ", h("a", { href: href("/events", { at: event.position }) }, num(event.position))),
      time(event.time),
    ),
    h("pre", {}, JSON.stringify(event.data, null, 2)),
  );
}

/** Asks to confirm in a modal dialog (keyboard: Enter confirms, Escape cancels). */
function confirmDialog(question: string, action: string): Promise<boolean> {
  return new Promise((resolve) => {
    const yes = h("button", { type: "button", class: "danger", id: "confirm" }, action);
    const no = h("button", { type: "button", class: "ghost", id: "cancel" }, "Cancel");
    const dialog = h("dialog", { "aria-labelledby": "dialog-title" }, h("h2", { id: "dialog-title" }, action), h("p", {}, question), h("div", { class: "actions" }, no, yes));
    const done = (answer: boolean) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    yes.addEventListener("click", () => done(true));
    no.addEventListener("click", () => done(false));
    dialog.addEventListener("cancel", (e) => {
      e.preventDefault();
      done(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    no.focus();
  });
}

export async function command(ctx: Ctx, main: HTMLElement, id: string): Promise<void> {
  const found = await ctx.client.command(id);
  const changes = await ctx.client.diff(found.from, found.to);
  if (!ctx.live()) return;
  const outcome = h("div", { id: "revert-outcome", "aria-live": "polite" });
  const revert = h("button", { type: "button", class: "danger", id: "revert" }, "Revert this command");
  revert.addEventListener("click", async () => {
    const sure = await confirmDialog(
      `Record a revert of command ${id}? From then on the read models are as if its ${found.events.length} event(s) had never been applied. The log keeps everything.`,
      "Revert",
    );
    if (!sure) return;
    revert.disabled = true;
    try {
      const result = await ctx.client.revert({ commandId: id });
      fill(
        outcome,
        h(
          "div",
          { class: "notice", role: "status" },
          "Reverted: recorded at position ",
          h("strong", { id: "revert-position" }, num(result.position)),
          ". ",
          h("a", { href: href(`/commands/${result.command_id}`) }, "The revert's own command"),
          " · ",
          h("a", { href: href("/diff", { from: (result.position ?? 1) - 1, to: result.position ?? 0 }) }, "what it changed"),
        ),
      );
    } catch (error) {
      revert.disabled = false;
      const words = status(error) === 409 ? `This command cannot be reverted: ${describe(error).replace(/^[^:]*: /, "")}` : describe(error);
      fill(outcome, h("div", { class: "problem", role: "alert", id: "revert-refused" }, words));
    }
  });
  fill(
    main,
    h("h1", {}, "Command ", h("code", {}, id)),
    h("p", { class: "muted" }, `${found.events.length} event(s), positions ${num(found.from + 1)}–${num(found.to)}`),
    ctx.admin ? h("div", { class: "toolbar" }, revert) : null,
    outcome,
    h("div", { class: "split" }, h("section", {}, h("h2", {}, "Events"), h("div", { class: "events-list" }, found.events.map(card))), h("section", { id: "changes" }, h("h2", {}, "Rows it changed"), diffView(changes))),
  );
}

