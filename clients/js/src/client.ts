import type {
  CommandEvents,
  Diff,
  Health,
  ProjectionsStatus,
  QueryRows,
  ReactorsStatus,
  ReadModelsStatus,
  ServerStatus,
  StreamPage,
} from "./admin.js";
import type { GestaEvent, Outcome } from "./events.js";
import { GestaProblem, problemFrom } from "./problem.js";
import { SseParser } from "./sse.js";

/** How a {@link GestaClient} talks to its server. */
export interface ClientOptions {
  /** A bearer token (API key or JWT), sent as `Authorization: Bearer ...`. */
  token?: string;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
  /** The `fetch` to use (default: the platform's). */
  fetch?: typeof fetch;
}

/** Options of one command. */
export interface DispatchOptions {
  /** Sent as `Idempotency-Key`: the same key runs the command once, and answers the same outcome again. */
  idempotencyKey?: string;
  /** Aborts the request (the command may still commit: retry it with the same idempotency key). */
  signal?: AbortSignal;
}

/** Which events a subscription gets. */
export interface SubscribeFilter {
  /** Only events after this position (default 0: from the first), or `"now"`. */
  after?: number | "now";
  /** Only streams of these categories (the part of the stream id before the first `-`). */
  category?: string | string[];
  /** Only these event types. */
  type?: string | string[];
  /** Only these streams. */
  stream?: string | string[];
}

/** How a subscription behaves when the connection drops. */
export interface SubscribeOptions {
  /** Called with what went wrong: a dropped connection (then it reconnects), or a problem answer (then it stops). */
  onError?: (error: unknown) => void;
  /** Milliseconds between reconnection attempts (default 1000; the server's `retry:` wins). */
  retryMs?: number;
}

/** A live subscription. */
export interface Subscription {
  /** Stops it: no more events are delivered after this returns. */
  close(): void;
}

/** A collection's rows at a position, as `GET /collections/{name}` answers. */
export interface CollectionRows<Row = Record<string, unknown>> {
  position: number;
  rows: Row[];
}

/** A read as of a position (an integer, 0 = the empty store) or an RFC 3339 time. */
export interface AsOf {
  asOf?: number | string;
}

/**
 * A client of one Gesta server: commands, reads and subscriptions over its HTTP API.
 *
 * ```ts
 * const client = new GestaClient("http://127.0.0.1:8080");
 * const outcome = await client.dispatch("AddBook", { id: "b1", title: "Dune", copies: 2 });
 * const sub = client.subscribe({ after: 0, category: "book" }, (event) => console.log(event.type));
 * ```
 */
export class GestaClient {
  /** The server's base URL, without a trailing slash. */
  readonly url: string;
  private readonly options: ClientOptions;

  constructor(url: string, options: ClientOptions = {}) {
    this.url = url.replace(/\/+$/, "");
    this.options = options;
  }

  /**
   * Runs command `name` with `data`; answers its outcome. Throws {@link GestaProblem}
   * when the server answers a problem: 400 invalid (its `field` named), 404 unknown
   * command, 409 conflict, 422 rejected by the handler, 503 overloaded, ...
   */
  async dispatch(name: string, data: unknown, options: DispatchOptions = {}): Promise<Outcome> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (options.idempotencyKey !== undefined) headers["idempotency-key"] = options.idempotencyKey;
    const init: RequestInit = { method: "POST", headers, body: JSON.stringify(data) };
    if (options.signal) init.signal = options.signal;
    return (await this.json(`/commands/${encodeURIComponent(name)}`, init)) as Outcome;
  }

  /** A collection's rows, now or as of a position or time. */
  async collection<Row = Record<string, unknown>>(name: string, options: AsOf = {}): Promise<CollectionRows<Row>> {
    return (await this.json(`/collections/${encodeURIComponent(name)}${asOfQuery(options)}`)) as CollectionRows<Row>;
  }

  /** One row of a collection, or `undefined` when there is none with that key. */
  async row<Row = Record<string, unknown>>(name: string, key: string | number, options: AsOf = {}): Promise<Row | undefined> {
    try {
      const path = `/collections/${encodeURIComponent(name)}/${encodeURIComponent(String(key))}${asOfQuery(options)}`;
      return (await this.json(path)) as Row;
    } catch (error) {
      if (error instanceof GestaProblem && error.status === 404) return undefined;
      throw error;
    }
  }

  /**
   * A page of the log: events after `after` (default 0), at most `limit`, only of
   * these types, streams or categories when given.
   */
  async events(options: { after?: number; limit?: number } & Omit<SubscribeFilter, "after"> = {}): Promise<GestaEvent[]> {
    const query = new URLSearchParams();
    if (options.after !== undefined) query.set("after", String(options.after));
    if (options.limit !== undefined) query.set("limit", String(options.limit));
    appendFilter(query, options);
    const body = (await this.json(`/events?${query}`)) as { events: GestaEvent[] };
    return body.events;
  }

  /** A page of one stream's events, from version `fromVersion` (default 1), at most `limit`. */
  async stream(name: string, options: { fromVersion?: number; limit?: number } = {}): Promise<StreamPage> {
    const query = new URLSearchParams();
    if (options.fromVersion !== undefined) query.set("from_version", String(options.fromVersion));
    if (options.limit !== undefined) query.set("limit", String(options.limit));
    return (await this.json(`/streams/${encodeURIComponent(name)}?${query}`)) as StreamPage;
  }

  /** Liveness, backend, durability and the head of the log (`GET /healthz`). */
  async health(): Promise<Health> {
    return (await this.json("/healthz")) as Health;
  }

  /** Admin: the head, counters since start and open subscriptions (`GET /admin/status`). */
  async status(): Promise<ServerStatus> {
    return (await this.json("/admin/status")) as ServerStatus;
  }

  /** Admin: the inline read models, their tables, positions and states. */
  async readModels(): Promise<ReadModelsStatus> {
    return (await this.json("/admin/read-models")) as ReadModelsStatus;
  }

  /** Admin: the reactors with their lag and parked events (at most `parkedLimit` listed). */
  async reactors(options: { parkedLimit?: number } = {}): Promise<ReactorsStatus> {
    const query = options.parkedLimit === undefined ? "" : `?parked_limit=${options.parkedLimit}`;
    return (await this.json(`/admin/reactors${query}`)) as ReactorsStatus;
  }

  /** Admin: asks for a parked event to be delivered once more. */
  async retryParked(reactor: string, position: number): Promise<void> {
    await this.json(`/admin/reactors/${encodeURIComponent(reactor)}/parked/${position}/retry`, { method: "POST" });
  }

  /** Admin: drops a parked event (the reactor never handles it). */
  async skipParked(reactor: string, position: number): Promise<void> {
    await this.json(`/admin/reactors/${encodeURIComponent(reactor)}/parked/${position}`, { method: "DELETE" });
  }

  /** Admin: the async projections with their lag. */
  async projections(): Promise<ProjectionsStatus> {
    return (await this.json("/admin/projections")) as ProjectionsStatus;
  }

  /** Admin: one read-only SQL statement over the read models, now or as of a position or time. */
  async query<Row = Record<string, unknown>>(sql: string, options: AsOf & { params?: Record<string, string | number | boolean | null> } = {}): Promise<QueryRows<Row>> {
    const body: Record<string, unknown> = { sql };
    if (options.params !== undefined) body.params = options.params;
    if (options.asOf !== undefined) body.as_of = options.asOf;
    return (await this.json("/admin/query", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })) as QueryRows<Row>;
  }

  /** Admin: the read models' rows inserted, updated and deleted between two positions. */
  async diff(from: number, to: number, options: { table?: string } = {}): Promise<Diff> {
    const query = new URLSearchParams({ from: String(from), to: String(to) });
    if (options.table !== undefined) query.set("table", options.table);
    return (await this.json(`/admin/diff?${query}`)) as Diff;
  }

  /** Admin: one command's events and the positions they span (`GET /admin/commands/{id}`). */
  async command(commandId: string): Promise<CommandEvents> {
    return (await this.json(`/admin/commands/${encodeURIComponent(commandId)}`)) as CommandEvents;
  }

  /**
   * Admin: reverts one command (`{ commandId }`) or every command after a position
   * (`{ to }`). Throws {@link GestaProblem} 409 when it cannot (already reverted, or
   * the replay without it fails: the problem's `detail` says which event).
   */
  async revert(target: { commandId: string } | { to: number }, options: DispatchOptions = {}): Promise<Outcome> {
    const body = "commandId" in target ? { command_id: target.commandId } : { to: target.to };
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (options.idempotencyKey !== undefined) headers["idempotency-key"] = options.idempotencyKey;
    const init: RequestInit = { method: "POST", headers, body: JSON.stringify(body) };
    if (options.signal) init.signal = options.signal;
    return (await this.json("/admin/revert", init)) as Outcome;
  }

  /**
   * Follows the log: calls `onEvent` with every matching event after `filter.after`, in
   * position order, then with each new one as it commits, over Server-Sent Events. When
   * the connection drops it reconnects with `Last-Event-ID`, so no event is missed nor
   * delivered twice. A problem answer (a bad filter, say) stops it and goes to `onError`.
   */
  subscribe(filter: SubscribeFilter, onEvent: (event: GestaEvent) => void, options: SubscribeOptions = {}): Subscription {
    const query = new URLSearchParams();
    if (filter.after !== undefined) query.set("after", String(filter.after));
    appendFilter(query, filter);
    const url = `${this.url}/subscribe?${query}`;
    const controller = new AbortController();
    let closed = false;
    let lastId = "";
    let retryMs = options.retryMs ?? 1000;
    const report = (error: unknown) => {
      if (closed) return;
      if (options.onError) options.onError(error);
    };

    const connect = async (): Promise<"again" | "stop"> => {
      const headers: Record<string, string> = { ...this.headers(), accept: "text/event-stream" };
      if (lastId !== "") headers["last-event-id"] = lastId;
      const response = await this.fetch()(url, { headers, signal: controller.signal, cache: "no-store" });
      if (!response.ok) {
        const problem = await problemFrom(response);
        report(problem);
        // A server in trouble (5xx, 429) may come back; a bad request will not.
        return problem.status >= 500 || problem.status === 429 ? "again" : "stop";
      }
      if (!response.body) throw new Error("the server's answer has no body to stream");
      const parser = new SseParser(
        (message) => {
          if (closed) return;
          lastId = message.lastEventId;
          let event: GestaEvent;
          try {
            event = JSON.parse(message.data) as GestaEvent;
          } catch (error) {
            report(new Error(`not an event: ${message.data.slice(0, 200)}`, { cause: error }));
            return;
          }
          try {
            onEvent(event);
          } catch (error) {
            report(error);
          }
        },
        (ms) => {
          retryMs = ms;
        },
      );
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done || closed) break;
          parser.push(value);
        }
      } finally {
        reader.releaseLock();
      }
      return "again";
    };

    void (async () => {
      while (!closed) {
        try {
          if ((await connect()) === "stop") return;
          if (!closed) report(new Error("the event stream ended; reconnecting"));
        } catch (error) {
          if (closed) return;
          report(error);
        }
        await sleep(retryMs, controller.signal);
      }
    })();

    return {
      close() {
        closed = true;
        controller.abort();
      },
    };
  }

  private fetch(): typeof fetch {
    return this.options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  private headers(): Record<string, string> {
    const headers: Record<string, string> = { ...this.options.headers };
    if (this.options.token !== undefined) headers.authorization = `Bearer ${this.options.token}`;
    return headers;
  }

  private async json(path: string, init: RequestInit = {}): Promise<unknown> {
    const headers = { accept: "application/json", ...this.headers(), ...(init.headers as Record<string, string>) };
    const response = await this.fetch()(`${this.url}${path}`, { ...init, headers });
    if (!response.ok) throw await problemFrom(response);
    return response.json();
  }
}

function appendFilter(query: URLSearchParams, filter: Omit<SubscribeFilter, "after">): void {
  for (const [name, values] of [["category", filter.category], ["type", filter.type], ["stream", filter.stream]] as const) {
    for (const value of values === undefined ? [] : Array.isArray(values) ? values : [values]) query.append(name, value);
  }
}

function asOfQuery(options: AsOf): string {
  return options.asOf === undefined ? "" : `?as_of=${encodeURIComponent(String(options.asOf))}`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}
