// The event-stream parser, on the format's corner cases.
import assert from "node:assert/strict";
import { test } from "node:test";

import { SseParser } from "../dist/index.js";

function parse(chunks) {
  const got = [];
  const retries = [];
  const parser = new SseParser((m) => got.push(m), (ms) => retries.push(ms));
  for (const chunk of chunks) parser.push(chunk);
  return { got, retries, lastId: parser.lastId };
}

test("messages split anywhere, CRLF and CR line ends, comments, multi-line data, retry", () => {
  const text = ": keep-alive\r\nretry: 2500\r\nid: 7\r\nevent: BookAdded\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\nid: 8\revent: X\rdata: two\r\rdata: no id\n\n";
  const whole = parse([text]);
  for (let size = 1; size <= 5; size++) {
    const chunks = [];
    for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
    assert.deepEqual(parse(chunks), whole, `chunks of ${size}`);
  }
  assert.deepEqual(whole.got, [
    { event: "BookAdded", data: "{\"a\":\n1}", lastEventId: "7" },
    { event: "X", data: "two", lastEventId: "8" },
    { event: "message", data: "no id", lastEventId: "8" },
  ]);
  assert.deepEqual(whole.retries, [2500]);
  assert.equal(whole.lastId, "8");
});

test("an unfinished message is not delivered; a message without data is dropped", () => {
  const { got } = parse(["event: A\n\nid: 3\ndata: x"]);
  assert.deepEqual(got, []);
});
