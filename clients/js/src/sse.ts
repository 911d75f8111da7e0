/**
 * Server-Sent Events read from a `fetch` stream. `EventSource` cannot send headers
 * (an `Authorization` token, say) and Node 20 has none, so the client parses the
 * `text/event-stream` format itself, as the HTML standard defines it.
 */

/** One message of an event stream. */
export interface SseMessage {
  /** The `event:` field (`"message"` when absent). */
  event: string;
  /** The `data:` lines, joined with newlines. */
  data: string;
  /** The last `id:` seen so far on the stream (it persists across messages). */
  lastEventId: string;
}

/**
 * Splits an event stream into messages. Feed it text as it arrives with
 * {@link SseParser.push}; it calls `onMessage` for each complete message and
 * `onRetry` when the server sets a reconnection time.
 */
export class SseParser {
  private buffer = "";
  private data: string[] = [];
  private event = "";
  private lastEventId = "";

  constructor(
    private readonly onMessage: (message: SseMessage) => void,
    private readonly onRetry: (milliseconds: number) => void = () => {},
  ) {}

  /** The `id:` of the last message seen, to send as `Last-Event-ID`. */
  get lastId(): string {
    return this.lastEventId;
  }

  /** Takes the next piece of the stream (any split, even inside a line or a CR LF). */
  push(chunk: string): void {
    this.buffer += chunk;
    let start = 0;
    for (;;) {
      let end = start;
      while (end < this.buffer.length && this.buffer[end] !== "\n" && this.buffer[end] !== "\r") end++;
      if (end === this.buffer.length) break;
      // A CR at the very end may be the first half of a CR LF: wait for the next piece.
      if (this.buffer[end] === "\r" && end + 1 === this.buffer.length) break;
      const line = this.buffer.slice(start, end);
      start = this.buffer[end] === "\r" && this.buffer[end + 1] === "\n" ? end + 2 : end + 1;
      this.line(line);
    }
    this.buffer = this.buffer.slice(start);
  }

  private line(line: string): void {
    if (line === "") {
      this.dispatch();
      return;
    }
    if (line.startsWith(":")) return; // a comment (keep-alive)
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "data":
        this.data.push(value);
        break;
      case "event":
        this.event = value;
        break;
      case "id":
        if (!value.includes("\0")) this.lastEventId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.onRetry(Number(value));
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  private dispatch(): void {
    if (this.data.length === 0) {
      this.event = "";
      return;
    }
    const message = { event: this.event || "message", data: this.data.join("\n"), lastEventId: this.lastEventId };
    this.data = [];
    this.event = "";
    this.onMessage(message);
  }
}
