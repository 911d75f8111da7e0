// `/console/diff?from=P1&to=P2`: what changed in the read models between two positions.
import { h, fill, problem } from "../dom.ts";
import { go, href, param } from "../router.ts";
import type { Ctx } from "../session.ts";
import { diffView } from "./diff_view.ts";

export async function diff(ctx: Ctx, main: HTMLElement): Promise<void> {
  const head = (await ctx.client.status()).head;
  const from = param("from") ?? String(Math.max(0, head - 10));
  const to = param("to") ?? String(head);
  const fromInput = h("input", { name: "from", type: "number", min: 0, max: head, value: from, "aria-label": "From position" });
  const toInput = h("input", { name: "to", type: "number", min: 0, max: head, value: to, "aria-label": "To position" });
  const out = h("div", { id: "diff" });
  fill(
    main,
    h("h1", {}, "Diff"),
    h(
      "form",
      {
        class: "toolbar",
        onsubmit: (e: Event) => {
          e.preventDefault();
          go(href("/diff", { from: fromInput.value, to: toInput.value }));
        },
      },
      h("label", {}, "From", fromInput),
      h("label", {}, "To", toInput),
      h("button", { type: "submit" }, "Show"),
      h("span", { class: "muted" }, `head ${head.toLocaleString()}`),
    ),
    out,
  );
  try {
    const result = await ctx.client.diff(Number(from), Number(to));
    if (ctx.live()) fill(out, diffView(result));
  } catch (error) {
    if (ctx.live()) fill(out, problem(error));
  }
}
