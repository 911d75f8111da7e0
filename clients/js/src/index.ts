/**
 * `@gesta/client`: Gesta's client for the browser and Node 20+.
 *
 * - {@link GestaClient}: commands (`dispatch`), reads (`collection`, `row`, `events`)
 *   and `subscribe` over Server-Sent Events, read from a `fetch` stream and resumed
 *   with `Last-Event-ID` after a drop.
 * - Reads of streams and health, and the admin routes: status, read models, reactors
 *   (retry and skip parked events), projections, read-only SQL `query` as of a point in
 *   history, `diff` between positions, one `command`'s events, and `revert`.
 * - {@link gestaReducer} and {@link sync}: a Redux store holding a live copy of a Gesta
 *   app's collections, updated by the app module's own reducers.
 *
 * @packageDocumentation
 */
export { GestaClient } from "./client.js";
export type {
  AsOf,
  ClientOptions,
  CollectionRows,
  DispatchOptions,
  SubscribeFilter,
  SubscribeOptions,
  Subscription,
} from "./client.js";
export type {
  CommandEvents,
  Diff,
  Health,
  ParkedEvent,
  ProjectionStatus,
  ProjectionsStatus,
  QueryRows,
  ReactorStatus,
  ReactorsStatus,
  ReadModelStatus,
  ReadModelsStatus,
  RebuildProgress,
  RowChange,
  ServerStatus,
  StreamPage,
  TableDiff,
} from "./admin.js";
export { Collection } from "./collection.js";
export type { CollectionDef, ColumnType, Key, Row, Rows } from "./collection.js";
export type { GestaEvent, Outcome } from "./events.js";
export { GestaProblem } from "./problem.js";
export type { ProblemBody } from "./problem.js";
export { EVENT, HYDRATE, applyEvent, gestaReducer, hydrate, sync } from "./redux.js";
export type {
  AppReducer,
  EventAction,
  GestaAction,
  GestaApp,
  GestaState,
  HydrateAction,
  StoreLike,
  SyncHandle,
  SyncOptions,
} from "./redux.js";
export { SseParser } from "./sse.js";
export type { SseMessage } from "./sse.js";
