// `/console/read-models` and `/console/read-models/{name}`: a read model's rows, now or
// as they stood at a point in history (`?as_of=P`, a position or an RFC 3339 time),
// with a slider over positions and a date-time field; moving either updates the
// address. Rows come a page at a time through `POST /admin/query`.
import type { ReadModelStatus } from "@gesta/client";
import { h, fill, num, problem, table, status } from "../dom.ts";
import { href, param, replaceQuery } from "../router.ts";
import type { Ctx } from "../session.ts";

const PAGE = 100;

export async function readModels(ctx: Ctx, main: HTMLElement): Promise<void> {
  const { read_models } = await ctx.client.readModels();
  if (!ctx.live()) return;
  fill(
    main,
    h("h1", {}, "Read models"),
    table(
      read_models.map((m) => ({ name: m.name, version: m.version, state: m.state, position: m.position, head: m.head, tables: m.tables.join(", ") })),
      ["name", "version", "state", "position", "head", "tables"],
      (column, row) => (column === "name" ? h("a", { href: href(`/read-models/${encodeURIComponent(String(row.name))}`) }, String(row.name)) : undefined),
    ),
  );
}

/** A `datetime-local` value (the viewer's zone) for an RFC 3339 time. */
function localInput(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

export async function readModel(ctx: Ctx, main: HTMLElement, name: string): Promise<void> {
  const { read_models } = await ctx.client.readModels();
  const model: ReadModelStatus | undefined = read_models.find((m) => m.name === name);
  if (!ctx.live()) return;
  if (!model) {
    fill(main, h("h1", {}, "Read models"), problem(new Error(`there is no read model ${JSON.stringify(name)}`)), h("p", {}, h("a", { href: href("/read-models") }, "All read models")));
    return;
  }
  const head = model.head;
  const tableName = model.tables.includes(param("table") ?? "") ? (param("table") as string) : (model.tables[0] ?? "");
  let asOf: string | undefined = param("as_of") ?? undefined;
  let offset = Math.max(0, Number(param("offset") ?? "0") || 0);

  const slider = h("input", { type: "range", id: "as-of", min: 0, max: head, step: 1, value: head, "aria-label": "Position in history" });
  const positionLabel = h("output", { id: "as-of-position", class: "mono" }, num(head));
  const when = h("input", { type: "datetime-local", id: "as-of-time", step: 1, "aria-label": "As of time (your zone)" });
  const now = h("button", { type: "button", class: "ghost", id: "as-of-now" }, "Now");
  const heading = h("span", { class: "muted", id: "as-of-label" });
  const tables = h(
    "div",
    { class: "toolbar" },
    model.tables.length > 1
      ? model.tables.map((t) => h("a", { href: href(`/read-models/${encodeURIComponent(name)}`, { table: t, as_of: asOf }), "aria-current": t === tableName ? "page" : undefined }, t))
      : null,
  );
  const pager = h("div", { class: "pager" });
  const rows = h("div", { id: "rows" });
  fill(
    main,
    h("h1", {}, "Read model ", h("code", {}, name), " ", h("span", { class: "badge" }, model.state), " ", h("span", { class: "muted" }, `table ${tableName}`)),
    h("div", { class: "slider" }, h("label", { for: "as-of" }, "As of"), slider, positionLabel, when, now, heading),
    tables,
    pager,
    rows,
  );

  let request = 0;
  const load = async () => {
    const mine = ++request;
    const options = asOf === undefined ? {} : { asOf: /^\d+$/.test(asOf) ? Number(asOf) : asOf };
    try {
      const [counted, page] = await Promise.all([
        ctx.client.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${tableName}`, options),
        ctx.client.query(`SELECT * FROM ${tableName} ORDER BY 1 LIMIT ${PAGE} OFFSET ${offset}`, options),
      ]);
      if (!ctx.live() || mine !== request) return;
      const total = Number(counted.rows[0]?.n ?? 0);
      slider.value = String(page.position);
      positionLabel.textContent = num(page.position);
      heading.textContent = asOf === undefined ? "live" : `as of position ${num(page.position)}`;
      // The time field shows when the event at that position was committed.
      if (asOf === undefined || /^\d+$/.test(asOf)) {
        const at = page.position > 0 ? (await ctx.client.events({ after: page.position - 1, limit: 1 }))[0] : undefined;
        if (mine !== request) return;
        when.value = asOf === undefined || !at ? "" : localInput(new Date(at.time));
      }
      const prev = h("button", { type: "button", class: "ghost", disabled: offset === 0 }, "← Previous");
      const next = h("button", { type: "button", class: "ghost", disabled: offset + PAGE >= total }, "Next →");
      prev.addEventListener("click", () => {
        offset = Math.max(0, offset - PAGE);
        replaceQuery({ offset: offset || undefined });
        void load();
      });
      next.addEventListener("click", () => {
        offset += PAGE;
        replaceQuery({ offset });
        void load();
      });
      fill(pager, prev, next, total === 0 ? "no rows" : `rows ${num(offset + 1)}–${num(Math.min(total, offset + PAGE))} of ${num(total)}`);
      fill(rows, table(page.rows));
    } catch (error) {
      if (!ctx.live() || mine !== request) return;
      if (status(error) === 400 && asOf !== undefined) heading.textContent = "";
      fill(rows, problem(error));
    }
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const moveTo = (target: string | undefined, soon: boolean) => {
    asOf = target;
    offset = 0;
    replaceQuery({ as_of: asOf, offset: undefined });
    if (timer) clearTimeout(timer);
    if (soon) timer = setTimeout(() => void load(), 120);
    else void load();
  };
  slider.addEventListener("input", () => {
    positionLabel.textContent = num(Number(slider.value));
    moveTo(Number(slider.value) >= head ? undefined : slider.value, true);
  });
  slider.addEventListener("change", () => moveTo(Number(slider.value) >= head ? undefined : slider.value, false));
  when.addEventListener("change", () => {
    if (!when.value) return;
    const date = new Date(when.value);
    if (!Number.isNaN(date.getTime())) moveTo(date.toISOString(), false);
  });
  now.addEventListener("click", () => {
    when.value = "";
    moveTo(undefined, false);
  });
  if (asOf !== undefined && !/^\d+$/.test(asOf)) {
    const date = new Date(asOf);
    if (!Number.isNaN(date.getTime())) when.value = localInput(date);
  }
  ctx.onLeave(() => timer && clearTimeout(timer));
  await load();
}
