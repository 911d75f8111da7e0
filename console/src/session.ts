// Who is using the console: the client (with the API key kept for this tab's session
// only), and whether that principal is an admin.
import { GestaClient } from "@gesta/client";

const KEY = "gesta.console.token";

/** What every page gets. */
export interface Ctx {
  /** The client of this server, with the caller's key. */
  client: GestaClient;
  /** Whether the caller may use the admin routes (always, without `--auth`). */
  admin: boolean;
  /** Whether the server asked for a key. */
  secured: boolean;
  /** Runs `stop` when the page is left (timers, subscriptions). */
  onLeave(stop: () => void): void;
  /** Whether the page is still the one shown. */
  live(): boolean;
}

/** The key this tab was given, if any. */
export function storedToken(): string | undefined {
  return sessionStorage.getItem(KEY) ?? undefined;
}

/** Keeps `token` for this tab's session. */
export function storeToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

/** Forgets the key. */
export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}

/** A client of the server that served the console. */
export function clientFor(token: string | undefined): GestaClient {
  return new GestaClient(location.origin, token === undefined ? {} : { token });
}

/**
 * What the server says about this caller: `"unauthenticated"` when it wants a key (or
 * refuses the one given), else whether the caller is an admin.
 */
export async function probe(client: GestaClient): Promise<"unauthenticated" | { admin: boolean; secured: boolean }> {
  try {
    await client.events({ limit: 1 });
  } catch (error) {
    if (statusOf(error) === 401) return "unauthenticated";
    throw error;
  }
  try {
    await client.status();
    return { admin: true, secured: storedToken() !== undefined };
  } catch (error) {
    if (statusOf(error) === 403) return { admin: false, secured: true };
    throw error;
  }
}

function statusOf(error: unknown): number | undefined {
  return error && typeof error === "object" && "status" in error ? Number((error as { status: unknown }).status) : undefined;
}
