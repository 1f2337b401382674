// What the client does about each way a socket ends, the close codes the
// server's layer sends (4401, 4403) first.
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness, started, flush, establish, deferred, trail } from "../test-support/fakes.js";

const MINT_TIMEOUT = 10000; // the only timer pending while a mint is in flight

test("4401 mints a new ticket and reconnects at once: no backoff timer", async () => {
  const h = await started();
  h.socket().serverOpen();
  h.socket().serverClose(4401, "ticket refused");
  assert.equal(h.mint.calls.length, 2, "minted again synchronously");
  const s = h.client.snapshot;
  assert.deepEqual([s.state, s.cause, s.closeCode, s.closeReason, s.rejections, s.delayMs], ["minting", "close", 4401, "ticket refused", 1, null]);
  assert.deepEqual(h.clock.pending(), [MINT_TIMEOUT]);
  await flush();
  assert.equal(h.clock.now, 0);
  assert.equal(h.sockets.length, 2);
  assert.notEqual(h.mint.tickets[1], h.mint.tickets[0]);
  assert.ok(h.socket().protocols.includes(`ws-ticket.${h.mint.tickets[1]}`));
  assert.ok(!trail(h).some((t) => t.startsWith("backoff")));
});

test("4401s right after open (accept_then_close) reconnect at once at most 3 times in a row, then back off", async () => {
  const h = await started();
  for (let i = 1; i <= 3; i++) {
    h.socket().serverOpen();
    h.socket().serverClose(4401);
    assert.equal(h.client.state, "minting", `4401 #${i} mints at once`);
    assert.equal(h.client.snapshot.rejections, i);
    await flush();
  }
  h.socket().serverOpen();
  h.socket().serverClose(4401);
  const s = h.client.snapshot;
  assert.deepEqual([s.state, s.cause, s.closeCode, s.rejections, s.backoffs, s.delayMs], ["backoff", "close", 4401, 4, 1, 375]);
  assert.equal(h.mint.calls.length, 4);
  h.clock.advance(375);
  assert.equal(h.mint.calls.length, 5, "then mints a fresh ticket");
  await flush();
  h.socket().serverOpen();
  h.socket().serverClose(4401);
  assert.deepEqual([h.client.state, h.client.snapshot.delayMs], ["backoff", 750], "and keeps backing off, longer");
});

test("maxImmediateRetries sets the cap on 4401s in a row", async () => {
  const h = await started({ maxImmediateRetries: 1 });
  h.socket().serverOpen();
  h.socket().serverClose(4401);
  assert.equal(h.client.state, "minting");
  await flush();
  h.socket().serverOpen();
  h.socket().serverClose(4401);
  assert.equal(h.client.state, "backoff");
});

test("4403 stops: reason forbidden, no mint, no timer", async () => {
  const h = await started();
  h.socket().serverOpen();
  h.socket().serverClose(4403, "forbidden");
  const s = h.client.snapshot;
  assert.deepEqual([s.state, s.reason, s.cause, s.closeCode], ["stopped", "forbidden", "close", 4403]);
  assert.deepEqual(h.clock.pending(), []);
  h.clock.advance(3_600_000);
  await flush();
  assert.equal(h.mint.calls.length, 1);
  assert.equal(h.sockets.length, 1);
});

test("1013 backs off, then mints a fresh ticket", async () => {
  const h = await started();
  h.socket().serverOpen();
  h.socket().serverClose(1013, "try again later");
  const s = h.client.snapshot;
  assert.deepEqual([s.state, s.cause, s.closeCode, s.delayMs, s.delayFrom], ["backoff", "close", 1013, 375, "backoff"]);
  h.clock.advance(374);
  assert.equal(h.mint.calls.length, 1, "not before the delay");
  h.clock.advance(1);
  assert.deepEqual([h.client.state, h.client.snapshot.cause, h.mint.calls.length], ["minting", "retry", 2]);
  await flush();
  assert.equal(h.sockets.length, 2);
});

test("1006 after open (a dropped connection) backs off", async () => {
  const h = await started();
  establish(h);
  h.socket().serverClose(1006);
  const s = h.client.snapshot;
  assert.deepEqual([s.state, s.cause, s.closeCode, s.delayMs, s.error], ["backoff", "close", 1006, 375, null]);
});

test("1006 before open is a failed handshake: back off, then mint again", async () => {
  const h = await started();
  h.socket().serverClose(1006);
  const s = h.client.snapshot;
  assert.deepEqual([s.state, s.cause, s.closeCode, s.delayMs, s.error], ["backoff", "handshake-failed", 1006, 375, "the handshake failed"]);
  assert.ok(!h.events.some((e) => e.type === "close"), "no close event: nothing opened");
  h.clock.advance(375);
  await flush();
  assert.equal(h.mint.calls.length, 2);
  assert.equal(h.sockets.length, 2);
  assert.ok(h.socket().protocols.includes(`ws-ticket.${h.mint.tickets[1]}`), "with the new ticket");
});

test("a normal close by the server (1000, 1001) reconnects after backoff", async () => {
  for (const code of [1000, 1001]) {
    const h = await started();
    establish(h);
    h.socket().serverClose(code);
    assert.deepEqual([h.client.state, h.client.snapshot.closeCode], ["backoff", code]);
    h.clock.advance(h.client.snapshot.delayMs);
    assert.equal(h.mint.calls.length, 2);
  }
});

test("a handshake that never completes times out after openTimeoutMs: socket dropped, backoff", async () => {
  const h = await started({ openTimeoutMs: 15000 });
  const stuck = h.socket();
  h.clock.advance(14999);
  assert.equal(h.client.state, "connecting");
  h.clock.advance(1);
  assert.deepEqual(stuck.closeCalls, [[undefined, undefined]]);
  const s = h.client.snapshot;
  assert.deepEqual([s.state, s.cause, s.error], ["backoff", "handshake-failed", "the handshake timed out"]);
  const before = h.states.length;
  stuck.serverClose(1006); // the browser's late report changes nothing
  assert.equal(h.states.length, before);
});

test("handle.close() stops: reason closed, the socket closed with the app's code, no reconnect", async () => {
  const h = await started();
  establish(h);
  h.client.close(4000, "bye");
  const s = h.client.snapshot;
  assert.deepEqual([s.state, s.reason, s.cause], ["stopped", "closed", "app-close"]);
  assert.deepEqual(h.socket().closeCalls, [[4000, "bye"]]);
  h.socket().serverClose(4000, "bye");
  const close = h.events.filter((e) => e.type === "close");
  assert.equal(close.length, 1, "the open socket still gets its close event");
  assert.equal(close[0].code, 4000);
  assert.equal(h.client.state, "stopped");
  h.clock.advance(3_600_000);
  await flush();
  assert.equal(h.mint.calls.length, 1);
  assert.equal(h.sockets.length, 1);
});

test("handle.close() defaults to code 1000 and is idempotent", async () => {
  const h = await started();
  h.socket().serverOpen();
  h.client.close();
  h.client.close();
  assert.deepEqual(h.socket().closeCalls, [[1000, ""]]);
  assert.equal(h.states.filter((s) => s.state === "stopped").length, 1);
});

test("handle.close() during backoff cancels the retry", async () => {
  const h = await started();
  h.socket().serverClose(1006);
  assert.equal(h.client.state, "backoff");
  h.client.close();
  assert.deepEqual(h.clock.pending(), []);
  h.clock.advance(60_000);
  assert.equal(h.mint.calls.length, 1);
});

test("handle.close() while minting aborts the request and ignores a late answer", async () => {
  const h = harness();
  const answer = deferred();
  h.mint.queue.push(() => answer.promise);
  await flush();
  h.client.close();
  assert.equal(h.mint.calls[0].init.signal.aborted, true);
  answer.resolve(Response.json({ ticket: "wst_late", ttl_seconds: 30 }));
  await flush();
  assert.equal(h.sockets.length, 0);
  assert.equal(h.client.state, "stopped");
});

test("handle.close() before the start microtask: nothing is minted", async () => {
  const h = harness();
  h.client.close();
  await flush();
  assert.equal(h.mint.calls.length, 0);
  assert.deepEqual(trail(h), ["stopped:app-close"]);
});

test("handle.close() after 4403 keeps the reason forbidden", async () => {
  const h = await started();
  h.socket().serverOpen();
  h.socket().serverClose(4403);
  h.client.close();
  assert.equal(h.client.snapshot.reason, "forbidden");
});

test("close() from a close listener stops: no reconnect", async () => {
  const h = await started();
  h.client.addEventListener("close", () => h.client.close());
  h.socket().serverOpen();
  h.socket().serverClose(1006);
  assert.deepEqual([h.client.state, h.client.snapshot.reason], ["stopped", "closed"]);
  h.clock.advance(60_000);
  assert.equal(h.mint.calls.length, 1);
});

test("close() from a statechange listener while minting: no socket is made", async () => {
  const h = harness();
  h.client.addEventListener("statechange", (e) => { if (e.detail.state === "minting") h.client.close(); });
  await flush();
  assert.equal(h.mint.calls.length, 1);
  assert.equal(h.mint.calls[0].init.signal.aborted, true);
  assert.equal(h.sockets.length, 0);
  assert.equal(h.client.state, "stopped");
});

test("the close event carries code, reason and wasClean, once per open socket, never for a failed handshake", async () => {
  const h = await started();
  h.socket().serverClose(1006); // never opened
  h.clock.advance(h.client.snapshot.delayMs);
  await flush();
  h.socket().serverOpen();
  h.socket().serverClose(1013, "later");
  const close = h.events.filter((e) => e.type === "close");
  assert.equal(close.length, 1);
  assert.deepEqual([close[0].code, close[0].reason, close[0].wasClean], [1013, "later", true]);
  const order = h.events.map((e) => (e.type === "statechange" ? e.detail.state : e.type));
  assert.deepEqual(order.slice(-4), ["open", "open", "close", "backoff"], "close event, then the decision");
});

test("reconnect() drops the socket, resets the counters and mints at once", async () => {
  const h = await started();
  h.socket().serverClose(1006);
  h.clock.advance(h.client.snapshot.delayMs);
  await flush();
  h.socket().serverOpen();
  const old = h.socket();
  assert.equal(h.client.snapshot.attempt, 2);
  h.client.reconnect();
  assert.deepEqual(old.closeCalls, [[1000, "reconnect"]]);
  const s = h.client.snapshot;
  assert.deepEqual([s.state, s.cause, s.attempt, s.backoffs, s.rejections], ["minting", "reconnect", 1, 0, 0]);
  assert.equal(h.mint.calls.length, 3);
  await flush();
  assert.equal(h.sockets.length, 3);
  const before = h.states.length;
  old.serverClose(1000, "reconnect"); // the dropped socket's close: its close event, no decision
  assert.equal(h.events.at(-1).type, "close");
  assert.equal(h.states.length, before);
  assert.equal(h.client.state, "connecting");
});

test("reconnect() restarts a stopped client", async () => {
  const h = harness();
  h.mint.queue.push(new Response(null, { status: 401 }));
  await flush();
  assert.equal(h.client.snapshot.reason, "signed out");
  h.client.reconnect();
  await flush();
  assert.deepEqual(trail(h).slice(-2), ["minting:reconnect", "connecting:minted"]);
});
