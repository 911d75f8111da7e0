// A diff of the read models (`GET /admin/diff`) as tables: inserted rows, updated rows
// with the changed cells before → after, deleted rows.
import type { Diff } from "@gesta/client";
import { h, num, value, type Child } from "../dom.ts";

export function diffView(diff: Diff): Child {
  const tables = Object.entries(diff.tables);
  if (tables.length === 0) return h("p", { class: "muted", id: "no-changes" }, `No read-model rows changed between ${num(diff.from)} and ${num(diff.to)}.`);
  return tables.map(([name, changes]) => {
    const sample = changes.inserted[0] ?? changes.deleted[0] ?? changes.updated[0]?.after ?? {};
    const columns = Object.keys(sample);
    const rows: HTMLElement[] = [];
    for (const row of changes.inserted) rows.push(h("tr", { class: "inserted" }, h("td", {}, "inserted"), columns.map((c) => h("td", { class: "mono" }, value(row[c])))));
    for (const change of changes.updated) {
      rows.push(
        h(
          "tr",
          { class: "updated" },
          h("td", {}, "updated"),
          columns.map((c) => {
            const before = change.before[c];
            const after = change.after[c];
            const same = JSON.stringify(before) === JSON.stringify(after);
            return same
              ? h("td", { class: "mono" }, value(after))
              : h("td", { class: "mono changed" }, h("span", { class: "before" }, value(before)), h("span", { class: "arrow" }, "→"), h("span", { class: "after" }, value(after)));
          }),
        ),
      );
    }
    for (const row of changes.deleted) rows.push(h("tr", { class: "deleted" }, h("td", {}, "deleted"), columns.map((c) => h("td", { class: "mono" }, value(row[c])))));
    return h(
      "section",
      { class: "diff-table", "data-table": name },
      h("h2", {}, name, " ", h("span", { class: "muted" }, `${changes.inserted.length} inserted · ${changes.updated.length} updated · ${changes.deleted.length} deleted`)),
      h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "change"), columns.map((c) => h("th", { scope: "col" }, c)))), h("tbody", {}, rows))),
    );
  });
}
