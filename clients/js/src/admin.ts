// The shapes of the read and admin answers of a Gesta server (`/streams`, `/healthz`,
// `/admin/*`), as its OpenAPI document describes them.
import type { GestaEvent } from "./events.js";

/** `GET /streams/{stream}`: a page of one stream's events. */
export interface StreamPage {
  stream_id: string;
  events: GestaEvent[];
}

/** `GET /healthz`. */
export interface Health {
  status: "ok";
  /** `sqlite`, `postgres` or `mysql`. */
  backend: string;
  durable: boolean;
  durability: string;
  /** The last committed position in the log. */
  last_position: number;
  queue_depth: number;
}

/** `GET /admin/status`: the head of the log and this server's counters since it started. */
export interface ServerStatus {
  /** The last committed position in the log. */
  head: number;
  /** `sqlite`, `postgres` or `mysql`. */
  backend: string;
  /** Commands and appends this server committed since it started. */
  commands_committed: number;
  /** Commands and appends this server rolled back since it started. */
  commands_failed: number;
  /** Events this server appended since it started. */
  events_appended: number;
  /** Open live streams (`/subscribe`, `/ws`, GraphQL subscriptions' sockets). */
  subscribers: number;
  /** Jobs waiting for the writer. */
  queue_depth: number;
  /** When this server started (RFC 3339). */
  started: string;
}

/** A background rebuild of a read model. */
export interface RebuildProgress {
  state: "building" | "done" | "failed";
  position: number;
  head: number;
  started: string;
  finished: string | null;
  pause_ms: number | null;
  error: string | null;
}

/** One inline read model. */
export interface ReadModelStatus {
  name: string;
  version: number;
  built_version: number;
  /** The tables it owns. */
  tables: string[];
  position: number;
  head: number;
  state: "live" | "rebuilding" | "stale";
  rebuild: RebuildProgress | null;
}

/** `GET /admin/read-models`. */
export interface ReadModelsStatus {
  read_models: ReadModelStatus[];
}

/** An event a reactor parked after its last failed attempt. */
export interface ParkedEvent {
  position: number;
  event_id: string;
  type: string;
  stream: string;
  error: string;
  attempts: number;
  parked_at: string;
  retry_requested: boolean;
}

/** One reactor. */
export interface ReactorStatus {
  name: string;
  checkpoint: number;
  position: number;
  lag: number;
  updated_at: string | null;
  registered: boolean;
  running: boolean;
  parked: number;
  parked_events: ParkedEvent[];
}

/** `GET /admin/reactors`. */
export interface ReactorsStatus {
  head: number;
  reactors: ReactorStatus[];
}

/** One async projection. */
export interface ProjectionStatus {
  name: string;
  checkpoint: number;
  lag: number;
  updated_at: string | null;
  registered: boolean;
  running: boolean;
  error: string | null;
  rebuild_requested: boolean;
}

/** `GET /admin/projections`. */
export interface ProjectionsStatus {
  head: number;
  projections: ProjectionStatus[];
}

/** `POST /admin/query`: rows as of a position. */
export interface QueryRows<Row = Record<string, unknown>> {
  position: number;
  rows: Row[];
}

/** A row before and after a change. */
export interface RowChange<Row = Record<string, unknown>> {
  before: Row;
  after: Row;
}

/** The changes of one read-model table. */
export interface TableDiff<Row = Record<string, unknown>> {
  inserted: Row[];
  updated: RowChange<Row>[];
  deleted: Row[];
}

/** `GET /admin/diff`: per table with changes. */
export interface Diff {
  from: number;
  to: number;
  tables: Record<string, TableDiff>;
}

/** `GET /admin/commands/{command_id}`: what one command wrote. */
export interface CommandEvents {
  command_id: string;
  /** The position before its first event: the diff of the command is `from`..`to`. */
  from: number;
  /** The position of its last event. */
  to: number;
  events: GestaEvent[];
}
