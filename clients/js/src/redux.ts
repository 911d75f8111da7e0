import type { GestaClient, SubscribeOptions, Subscription } from "./client.js";
import { Collection, type CollectionDef, type Row, type Rows } from "./collection.js";
import type { GestaEvent } from "./events.js";

/** A reducer of a Gesta app: `(collection, event) => collection`. */
export type AppReducer = (collection: Collection, event: GestaEvent) => Collection;

/**
 * What the browser needs of a Gesta app module (its default export): the collections
 * and their reducers. The module's commands, if present, are not used here.
 */
export interface GestaApp {
  name?: string;
  collections?: Record<string, CollectionDef>;
  reducers?: Record<string, AppReducer>;
  commands?: Record<string, unknown>;
}

/** The state `gestaReducer` keeps: the position of the last event applied, and each collection's rows by key. */
export interface GestaState {
  position: number;
  collections: Record<string, Rows>;
}

/** The action type that replaces the whole state, with the collections as they stood at `position`. */
export const HYDRATE = "gesta/hydrate";
/** The action type that applies one committed event. */
export const EVENT = "gesta/event";

/** Replaces the state by the collections as they stood at `position`. */
export interface HydrateAction {
  type: typeof HYDRATE;
  position: number;
  collections: Record<string, Rows>;
}

/** Applies one committed event through the app's reducers. */
export interface EventAction {
  type: typeof EVENT;
  event: GestaEvent;
}

/** The actions `gestaReducer` handles; it leaves every other action's state alone. */
export type GestaAction = HydrateAction | EventAction;

/** A `gesta/hydrate` action. */
export function hydrate(position: number, collections: Record<string, Rows>): HydrateAction {
  return { type: HYDRATE, position, collections };
}

/** A `gesta/event` action. */
export function applyEvent(event: GestaEvent): EventAction {
  return { type: EVENT, event };
}

/**
 * A Redux reducer over `{ position, collections: { name: { [key]: row } } }`, built from
 * the app module's own reducers: `gesta/hydrate` replaces the state, `gesta/event`
 * runs each collection's reducer on the event, exactly as the server does in the
 * command's transaction. An event at or before the state's position was applied
 * already and changes nothing. A reducer that throws, or does not return its
 * collection, throws here too (the server would have refused the command).
 */
export function gestaReducer(app: GestaApp): (state: GestaState | undefined, action: { type: string }) => GestaState {
  const defs = Object.entries(app.collections ?? {});
  const reducers = app.reducers ?? {};
  for (const name of Object.keys(reducers)) {
    if (!app.collections || !(name in app.collections)) throw new Error(`reducers.${name}: there is no collection ${name}`);
  }
  const initial: GestaState = { position: 0, collections: Object.fromEntries(defs.map(([name]) => [name, {}])) };

  return (state: GestaState | undefined = initial, action: { type: string }): GestaState => {
    if (action.type === HYDRATE) {
      const { position, collections } = action as HydrateAction;
      return { position, collections: Object.fromEntries(defs.map(([name]) => [name, collections[name] ?? {}])) };
    }
    if (action.type !== EVENT) return state;
    const { event } = action as EventAction;
    if (event.position <= state.position) return state;
    let collections = state.collections;
    for (const [name, def] of defs) {
      const reducer = reducers[name];
      if (!reducer) continue;
      const target = new Collection(name, def, collections[name] ?? {});
      let out: unknown;
      try {
        out = reducer(target, event);
      } catch (error) {
        throw new Error(`reducer ${name} failed on the event at position ${event.position}: ${String(error)}`, { cause: error });
      }
      if (out !== target) {
        throw new Error(`reducer ${name} must return the collection (got ${out === undefined ? "undefined" : typeof out})`);
      }
      if (target.rows !== collections[name]) {
        if (collections === state.collections) collections = { ...collections };
        collections[name] = target.rows;
      }
    }
    return { position: event.position, collections };
  };
}

/** The parts of a Redux store `sync` uses. */
export interface StoreLike<S = unknown> {
  dispatch(action: GestaAction): unknown;
  getState(): S;
  subscribe(listener: () => void): () => void;
}

/** Options of {@link sync}. */
export interface SyncOptions<S> {
  /** Where the Gesta state is in the store's state (default: it is the whole state). */
  select?: (state: S) => GestaState;
  /** Called with a dropped connection (it reconnects) or a failed hydration. */
  onError?: (error: unknown) => void;
  /** Milliseconds between reconnection attempts. */
  retryMs?: number;
}

/** A running {@link sync}. */
export interface SyncHandle {
  /** Resolves once the store has applied every event up to `position` (rejects if hydration failed or `close` was called first). */
  caughtUp(position: number): Promise<void>;
  /** Stops following the server. */
  close(): void;
}

/**
 * Keeps a Redux store's Gesta state a live copy of the server's collections: reads
 * every collection of `app` at one position (the first read's, the others `as_of`
 * it), dispatches `gesta/hydrate`, then follows `/subscribe` from that position and
 * dispatches `gesta/event` for each event. After `caughtUp(P)` resolves, the store's
 * collections equal the server's tables at P.
 */
export function sync<S>(client: GestaClient, store: StoreLike<S>, app: GestaApp, options: SyncOptions<S> = {}): SyncHandle {
  const select = options.select ?? ((state: S) => state as unknown as GestaState);
  const names = Object.keys(app.collections ?? {});
  const waiters = new Set<{ position: number; resolve: () => void; reject: (error: unknown) => void }>();
  let failure: unknown = undefined;
  let hydrated = false;
  let closed = false;
  let subscription: Subscription | undefined;

  const settle = () => {
    if (!hydrated) return;
    const position = select(store.getState()).position;
    for (const waiter of waiters) {
      if (position >= waiter.position) {
        waiters.delete(waiter);
        waiter.resolve();
      }
    }
  };
  const fail = (error: unknown) => {
    failure = error;
    for (const waiter of waiters) waiter.reject(error);
    waiters.clear();
  };
  const unsubscribe = store.subscribe(settle);

  void (async () => {
    let position: number | undefined;
    const collections: Record<string, Rows> = {};
    for (const name of names) {
      const page = await client.collection<Row>(name, position === undefined ? {} : { asOf: position });
      position ??= page.position;
      const key = app.collections?.[name]?.key ?? "id";
      collections[name] = Object.fromEntries(page.rows.map((row) => [String(row[key]), row]));
    }
    // An app without collections has nothing to read: follow the log from the start.
    position ??= 0;
    if (closed) return;
    hydrated = true;
    store.dispatch(hydrate(position, collections));
    const subscribeOptions: SubscribeOptions = {};
    if (options.onError) subscribeOptions.onError = options.onError;
    if (options.retryMs !== undefined) subscribeOptions.retryMs = options.retryMs;
    subscription = client.subscribe({ after: position }, (event) => store.dispatch(applyEvent(event)), subscribeOptions);
  })().catch((error: unknown) => {
    options.onError?.(error);
    fail(error);
  });

  return {
    caughtUp(position: number): Promise<void> {
      if (failure !== undefined) return Promise.reject(failure);
      if (closed) return Promise.reject(new Error("sync is closed"));
      return new Promise((resolve, reject) => {
        waiters.add({ position, resolve, reject });
        settle();
      });
    },
    close() {
      closed = true;
      subscription?.close();
      unsubscribe();
      fail(new Error("sync is closed"));
      failure = undefined;
    },
  };
}
