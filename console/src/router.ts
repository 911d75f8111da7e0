// Client-side routing over plain paths under /console/: the server answers the page
// for any of them, so every view has an address that can be shared and reloaded.

/** The console's path prefix. */
export const BASE = "/console";

/** The part of the address after /console (always starting with `/`). */
export function route(): string {
  const path = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : location.pathname;
  return path === "" ? "/" : path;
}

/** An address in the console. */
export function href(path: string, query?: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== "") params.set(k, String(v));
  const q = params.toString();
  return `${BASE}${path}${q ? `?${q}` : ""}`;
}

let onChange: () => void = () => {};

/** Calls `render` now and whenever the address changes. */
export function start(render: () => void): void {
  onChange = render;
  addEventListener("popstate", () => onChange());
  document.addEventListener("click", (event) => {
    const link = (event.target as Element | null)?.closest?.("a");
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const url = new URL(link.href, location.href);
    if (url.origin !== location.origin || !url.pathname.startsWith(`${BASE}/`) || link.target) return;
    event.preventDefault();
    go(url.pathname + url.search);
  });
  render();
}

/** Goes to `url` (a new history entry) and renders it. */
export function go(url: string): void {
  history.pushState(null, "", url);
  onChange();
}

/** Changes the query of the current address without a new entry or a render. */
export function replaceQuery(query: Record<string, string | number | undefined>): void {
  const params = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === "") params.delete(k);
    else params.set(k, String(v));
  }
  const q = params.toString();
  history.replaceState(null, "", `${location.pathname}${q ? `?${q}` : ""}`);
}

/** A query parameter of the current address. */
export function param(name: string): string | null {
  return new URLSearchParams(location.search).get(name);
}
