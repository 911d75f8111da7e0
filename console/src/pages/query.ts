// `/console/query`: one read-only SQL statement over the read models, now or as of a
// position or time (`POST /admin/query`). Ctrl+Enter runs it.
import { h, fill, num, problem, table } from "../dom.ts";
import { param, replaceQuery } from "../router.ts";
import type { Ctx } from "../session.ts";

/** Rows shown at a time; the rest are a page away. */
const PAGE = 200;

export async function query(ctx: Ctx, main: HTMLElement): Promise<void> {
  const sql = h("textarea", { id: "sql", spellcheck: "false", "aria-label": "SQL" });
  // By default, the first read-model table of this application.
  const first = param("sql") === null ? (await ctx.client.readModels()).read_models.flatMap((m) => m.tables)[0] : undefined;
  if (!ctx.live()) return;
  sql.value = param("sql") ?? (first ? `SELECT * FROM ${first} ORDER BY 1 LIMIT 100` : "SELECT 1 AS one");
  const asOf = h("input", { id: "query-as-of", placeholder: "now, a position, or 2026-01-01T00:00:00Z", value: param("as_of") ?? "", "aria-label": "As of" });
  const run = h("button", { type: "submit", id: "run" }, "Run");
  const out = h("div", { id: "result" });
  const go = async (e?: Event) => {
    e?.preventDefault();
    replaceQuery({ sql: sql.value, as_of: asOf.value.trim() });
    const at = asOf.value.trim();
    run.disabled = true;
    const started = performance.now();
    try {
      const result = await ctx.client.query(sql.value, at === "" ? {} : { asOf: /^\d+$/.test(at) ? Number(at) : at });
      if (!ctx.live()) return;
      const ms = Math.round(performance.now() - started);
      const summary = h("p", { class: "muted" }, `${num(result.rows.length)} row(s) as of position ${num(result.position)} · ${ms} ms`);
      const pager = h("div", { class: "pager" });
      const rows = h("div");
      const showPage = (start: number) => {
        const prev = h("button", { type: "button", class: "ghost", disabled: start === 0, onclick: () => showPage(Math.max(0, start - PAGE)) }, "← Previous");
        const next = h("button", { type: "button", class: "ghost", disabled: start + PAGE >= result.rows.length, onclick: () => showPage(start + PAGE) }, "Next →");
        fill(pager, result.rows.length > PAGE ? [prev, next, `rows ${num(start + 1)}–${num(Math.min(result.rows.length, start + PAGE))}`] : null);
        fill(rows, table(result.rows.slice(start, start + PAGE)));
      };
      showPage(0);
      fill(out, summary, pager, rows);
    } catch (error) {
      if (ctx.live()) fill(out, problem(error));
    } finally {
      run.disabled = false;
    }
  };
  sql.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) void go(e);
  });
  fill(
    main,
    h("h1", {}, "Query"),
    h("form", { onsubmit: (e: Event) => void go(e) }, sql, h("div", { class: "toolbar" }, h("label", {}, "As of", asOf), run, h("span", { class: "muted" }, "read-only · Ctrl+Enter runs"))),
    out,
  );
  if (param("sql")) await go();
}
