// Backoff growth, cap and jitter; when the counters reset.
import { test } from "node:test";
import assert from "node:assert/strict";
import { started, flush, establish } from "../test-support/fakes.js";

/** Fails `n` handshakes in a row and returns the delay chosen after each. */
async function delaysAfterFailures(h, n) {
  const delays = [];
  for (let i = 0; i < n; i++) {
    h.socket().serverClose(1006);
    delays.push(h.client.snapshot.delayMs);
    h.clock.advance(h.client.snapshot.delayMs);
    await flush();
  }
  return delays;
}

test("backoff doubles per wait and is capped at maxDelayMs (random 0.5: 3/4 of each ceiling)", async () => {
  const h = await started();
  const delays = await delaysAfterFailures(h, 10);
  // Ceilings 500, 1000, ... 16000, then 30000 (cap, not 32000).
  assert.deepEqual(delays, [375, 750, 1500, 3000, 6000, 12000, 22500, 22500, 22500, 22500]);
  assert.equal(h.client.snapshot.backoffs, 10);
});

test("minDelayMs, maxDelayMs and backoffFactor shape the backoff", async () => {
  const h = await started({ minDelayMs: 100, maxDelayMs: 2000, backoffFactor: 3, random: () => 0 });
  // random 0 gives half of each ceiling: 100, 300, 900, 2000 (cap), 2000.
  assert.deepEqual(await delaysAfterFailures(h, 5), [50, 150, 450, 1000, 1000]);
});

test("jitter stays within [ceiling/2, ceiling) and never passes the cap", async () => {
  for (const r of [0, 0.25, 0.999999]) {
    const h = await started({ random: () => r });
    const delays = await delaysAfterFailures(h, 9);
    delays.forEach((d, i) => {
      const ceiling = Math.min(30000, 500 * 2 ** i);
      assert.ok(d >= ceiling / 2 && d < ceiling, `random ${r}, wait ${i + 1}: ${d} in [${ceiling / 2}, ${ceiling})`);
    });
    if (r === 0) assert.deepEqual(delays.slice(0, 3), [250, 500, 1000]);
    if (r === 0.999999) assert.equal(delays.at(-1), 29999);
  }
});

test("jitter draws a fresh random number for every wait", async () => {
  const draws = [0.1, 0.9, 0.5];
  let calls = 0;
  const h = await started({ random: () => draws[calls++ % draws.length] });
  const delays = await delaysAfterFailures(h, 3);
  assert.equal(calls, 3);
  assert.deepEqual(delays, [Math.floor(250 + 0.1 * 250), Math.floor(500 + 0.9 * 500), Math.floor(1000 + 0.5 * 1000)]);
});

test("open alone does not reset the counters: accept_then_close opens every refused socket first", async () => {
  const h = await started();
  await delaysAfterFailures(h, 2);
  h.socket().serverOpen();
  const s = h.client.snapshot;
  assert.deepEqual([s.state, s.attempt, s.backoffs], ["open", 3, 2]);
  h.socket().serverClose(1013);
  assert.equal(h.client.snapshot.delayMs, 1500, "the third wait, not the first");
});

test("counters reset once the open socket gets a first message", async () => {
  const h = await started();
  await delaysAfterFailures(h, 2);
  h.socket().serverOpen();
  h.socket().serverClose(4401);
  await flush();
  h.socket().serverOpen();
  h.socket().serverMessage("welcome");
  const s = h.client.snapshot;
  assert.deepEqual([s.state, s.cause, s.attempt, s.backoffs, s.rejections], ["open", "established", 0, 0, 0]);
  const order = h.events.slice(-2).map((e) => e.type);
  assert.deepEqual(order, ["statechange", "message"]);
  h.socket().serverClose(1006);
  assert.deepEqual([h.client.snapshot.delayMs, h.client.snapshot.backoffs], [375, 1], "back to the first wait");
});

test("counters reset once the open socket lasts stableAfterMs", async () => {
  const h = await started({ stableAfterMs: 2000 });
  await delaysAfterFailures(h, 3);
  h.socket().serverOpen();
  h.clock.advance(1999);
  assert.equal(h.client.snapshot.backoffs, 3);
  h.clock.advance(1);
  const s = h.client.snapshot;
  assert.deepEqual([s.cause, s.attempt, s.backoffs], ["established", 0, 0]);
  h.socket().serverClose(1013);
  assert.equal(h.client.snapshot.delayMs, 375);
});

test("after an established connection, 4401 reconnects at once again: the in-a-row cap resets", async () => {
  const h = await started();
  for (let i = 0; i < 3; i++) {
    h.socket().serverOpen();
    h.socket().serverClose(4401);
    await flush();
  }
  establish(h);
  assert.equal(h.client.snapshot.rejections, 0);
  h.socket().serverClose(4401); // e.g. a revocation closing a live socket
  assert.equal(h.client.state, "minting");
  assert.equal(h.client.snapshot.rejections, 1);
});

test("only one established statechange per socket", async () => {
  const h = await started();
  establish(h);
  h.socket().serverMessage("a");
  h.socket().serverMessage("b");
  assert.equal(h.states.filter((s) => s.cause === "established").length, 1);
});
