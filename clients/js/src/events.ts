/** An event as the server sends it: CloudEvents 1.0 JSON with Gesta's extensions. */
export interface GestaEvent<Data = unknown> {
  specversion: "1.0";
  /** The event's id. */
  id: string;
  /** `/streams/{stream}`. */
  source: string;
  /** The event type, e.g. `BookAdded`. */
  type: string;
  /** The stream id. */
  subject: string;
  /** When it was committed (RFC 3339). */
  time: string;
  datacontenttype: "application/json";
  /** The event's data, the JSON its command handler gave. */
  data: Data;
  /** Its global position (1, 2, 3, ... in commit order). */
  position: number;
  /** Its version in its stream (the stream's first event is 1). */
  streamversion: number;
  /** The command that wrote it. */
  commandid?: string;
  correlationid?: string;
  causationid?: string;
  /** The authenticated principal whose request wrote the event. */
  principal?: string;
  [extension: string]: unknown;
}

/** What a command did: its id, the position of its last event, and its events. */
export interface Outcome {
  command_id: string;
  /** The position of the command's last event; `null` when it wrote none. */
  position: number | null;
  events: GestaEvent[];
}
