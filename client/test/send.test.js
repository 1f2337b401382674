// send(): forwards while open, throws otherwise, never queues.
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness, started, flush } from "../test-support/fakes.js";

const invalidState = (e) => e instanceof DOMException && e.name === "InvalidStateError";

test("send() before open throws InvalidStateError and sends nothing", async () => {
  const h = await started();
  assert.equal(h.client.state, "connecting");
  assert.throws(() => h.client.send("early"), invalidState);
  assert.deepEqual(h.socket().sent, []);
});

test("send() while minting (no socket yet) throws InvalidStateError", () => {
  const h = harness();
  assert.throws(() => h.client.send("x"), invalidState);
});

test("send() while open goes to the socket as given", async () => {
  const h = await started();
  h.socket().serverOpen();
  const bytes = new Uint8Array([1, 2, 3]);
  h.client.send("hello");
  h.client.send(bytes);
  assert.deepEqual(h.socket().sent, ["hello", bytes]);
});

test("send() does not queue: a message refused before open is not sent once open", async () => {
  const h = await started();
  assert.throws(() => h.client.send("early"), invalidState);
  h.socket().serverOpen();
  h.client.send("late");
  assert.deepEqual(h.socket().sent, ["late"]);
});

test("send() in backoff, after the socket closed, and after close() throws InvalidStateError", async () => {
  const h = await started();
  h.socket().serverOpen();
  h.socket().serverClose(1006);
  assert.equal(h.client.state, "backoff");
  assert.throws(() => h.client.send("x"), invalidState);
  h.clock.advance(h.client.snapshot.delayMs);
  await flush();
  h.socket().serverOpen();
  h.client.close();
  assert.throws(() => h.client.send("x"), invalidState);
  assert.deepEqual(h.sockets.map((s) => s.sent), [[], []]);
});

test("send() from a close listener throws: the socket is gone", async () => {
  const h = await started();
  let thrown = null;
  h.client.addEventListener("close", () => {
    try { h.client.send("x"); } catch (e) { thrown = e; }
  });
  h.socket().serverOpen();
  h.socket().serverClose(1013);
  assert.ok(thrown && invalidState(thrown));
});
