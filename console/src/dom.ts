// Small DOM helpers: element creation, and how numbers, times and values are shown.

/** Attributes and event handlers of {@link h}. */
export type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;
/** What {@link h} takes as children. */
export type Child = Node | string | number | null | undefined | false | Child[];

/** Creates an element: `h("a", { href: "/x" }, "text")`. `on*` attributes add listeners. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

/** Replaces `parent`'s children. */
export function fill(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** A number with thousands separators. */
export function num(n: number | null | undefined): string {
  return n === null || n === undefined ? "–" : n.toLocaleString();
}

/** A time in the viewer's zone, UTC on hover. */
export function time(rfc3339: string | null | undefined): HTMLElement {
  if (!rfc3339) return h("span", { class: "muted" }, "–");
  const date = new Date(rfc3339);
  if (Number.isNaN(date.getTime())) return h("span", {}, rfc3339);
  return h("time", { datetime: rfc3339, title: `${date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z")} UTC` }, date.toLocaleString());
}

/** A cell value: numbers with separators, null as a dash, JSON compact. */
export function value(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "number") return Number.isInteger(v) ? v.toLocaleString() : String(v);
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

/** What went wrong, in words: a problem's title and detail, or the error's message. */
export function describe(error: unknown): string {
  if (error && typeof error === "object" && "status" in error && "title" in error) {
    const p = error as { status: number; title: string; detail?: string };
    return p.detail ? `${p.title}: ${p.detail}` : p.title;
  }
  return error instanceof Error ? error.message : String(error);
}

/** A problem box. */
export function problem(error: unknown): HTMLElement {
  return h("div", { class: "problem", role: "alert" }, describe(error));
}

/** The HTTP status of a problem, if it is one. */
export function status(error: unknown): number | undefined {
  return error && typeof error === "object" && "status" in error ? Number((error as { status: unknown }).status) : undefined;
}

/** A table of `rows` with `columns` (default: the first row's keys). */
export function table(rows: Record<string, unknown>[], columns?: string[], cell?: (column: string, row: Record<string, unknown>) => Child): HTMLElement {
  const cols = columns ?? Object.keys(rows[0] ?? {});
  if (rows.length === 0) return h("p", { class: "muted" }, "No rows.");
  return h(
    "div",
    { class: "scroll" },
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, c)))),
      h(
        "tbody",
        {},
        rows.map((row) =>
          h(
            "tr",
            {},
            cols.map((c) => {
              const v = row[c];
              const custom = cell?.(c, row);
              return h("td", { class: typeof v === "number" ? "num" : "mono" }, custom ?? value(v));
            }),
          ),
        ),
      ),
    ),
  );
}
