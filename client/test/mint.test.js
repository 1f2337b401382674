// What the client does about each answer of the mint route.
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness, flush, deferred, trail } from "../test-support/fakes.js";

/** A harness whose first mint gets `answer`; settled. */
async function firstAnswer(answer, options) {
  const h = harness(options);
  h.mint.queue.push(answer);
  await flush();
  return h;
}

test("mint 401 stops: reason signed out, no socket, no timer", async () => {
  const h = await firstAnswer(new Response(null, { status: 401 }));
  const s = h.client.snapshot;
  assert.deepEqual([s.state, s.reason, s.cause, s.mintStatus], ["stopped", "signed out", "mint-failed", 401]);
  assert.equal(h.sockets.length, 0);
  assert.deepEqual(h.clock.pending(), []);
  h.clock.advance(3_600_000);
  await flush();
  assert.equal(h.mint.calls.length, 1);
});

test("mint 401 after a 4401 stops with signed out (the revoked-session path)", async () => {
  const h = harness();
  await flush();
  h.socket().serverOpen();
  h.mint.queue.push(new Response(null, { status: 401 }));
  h.socket().serverClose(4401);
  await flush();
  assert.deepEqual(trail(h).slice(-2), ["minting:close", "stopped:mint-failed"]);
  assert.equal(h.client.snapshot.reason, "signed out");
  assert.equal(h.sockets.length, 1);
});

test("mint 403 (a cross-site refusal) stops: reason forbidden", async () => {
  const h = await firstAnswer(new Response(null, { status: 403 }));
  const s = h.client.snapshot;
  assert.deepEqual([s.state, s.reason, s.mintStatus], ["stopped", "forbidden", 403]);
  assert.deepEqual(h.clock.pending(), []);
});

for (const status of [429, 503]) {
  test(`mint ${status} waits exactly Retry-After seconds, then mints again`, async () => {
    const h = await firstAnswer(new Response(null, { status, headers: { "Retry-After": "7" } }));
    const s = h.client.snapshot;
    assert.deepEqual([s.state, s.cause, s.mintStatus, s.delayMs, s.delayFrom], ["backoff", "mint-failed", status, 7000, "retry-after"]);
    h.clock.advance(6999);
    assert.equal(h.mint.calls.length, 1);
    h.clock.advance(1);
    assert.equal(h.mint.calls.length, 2);
    await flush();
    assert.equal(h.client.state, "connecting");
  });
}

test("Retry-After: 0 retries at once", async () => {
  const h = await firstAnswer(new Response(null, { status: 503, headers: { "Retry-After": "0" } }));
  assert.deepEqual([h.client.snapshot.delayMs, h.client.snapshot.delayFrom], [0, "retry-after"]);
});

test("Retry-After absent or not delta-seconds falls back to backoff", async () => {
  for (const retryAfter of [null, "Wed, 21 Oct 2026 07:28:00 GMT", "1.5", "-3", "soon", ""]) {
    const headers = retryAfter === null ? {} : { "Retry-After": retryAfter };
    const h = await firstAnswer(new Response(null, { status: 503, headers }));
    const s = h.client.snapshot;
    assert.deepEqual([s.state, s.delayMs, s.delayFrom], ["backoff", 375, "backoff"], `Retry-After: ${retryAfter}`);
  }
});

test("Retry-After on other statuses is ignored: a 500 backs off", async () => {
  const h = await firstAnswer(new Response(null, { status: 500, headers: { "Retry-After": "60" } }));
  assert.deepEqual([h.client.snapshot.delayMs, h.client.snapshot.delayFrom], [375, "backoff"]);
});

const failures = {
  "5xx": [() => new Response("oops", { status: 502 }), 502, "the ticket request was refused: HTTP 502"],
  "other 4xx": [() => new Response(null, { status: 404 }), 404, "the ticket request was refused: HTTP 404"],
  "a network error": [() => { throw new TypeError("Failed to fetch"); }, 0, "the ticket request failed: no answer"],
  "bad JSON": [() => new Response("{not json", { status: 200 }), 200, "the ticket response held no usable ticket"],
  "no ticket field": [() => Response.json({ ttl_seconds: 30 }), 200, "the ticket response held no usable ticket"],
  "a ticket that is not a string": [() => Response.json({ ticket: 42 }), 200, "the ticket response held no usable ticket"],
  "a ticket with characters outside the URL-safe set": [() => Response.json({ ticket: "wst_a b,c" }), 200, "the ticket response held no usable ticket"],
  "an empty ticket": [() => Response.json({ ticket: "" }), 200, "the ticket response held no usable ticket"],
};
for (const [name, [answer, status, error]] of Object.entries(failures)) {
  test(`mint answer with ${name} backs off, opens no socket, then mints again`, async () => {
    const h = await firstAnswer(answer);
    const s = h.client.snapshot;
    assert.deepEqual([s.state, s.cause, s.mintStatus, s.error, s.delayMs], ["backoff", "mint-failed", status, error, 375]);
    assert.equal(h.sockets.length, 0);
    h.clock.advance(375);
    await flush();
    assert.equal(h.mint.calls.length, 2);
    assert.equal(h.sockets.length, 1);
  });
}

test("a mint request that hangs times out after mintTimeoutMs: aborted, backoff, a late answer ignored", async () => {
  const answer = deferred();
  const h = await firstAnswer(() => answer.promise, { mintTimeoutMs: 8000 });
  h.clock.advance(7999);
  assert.equal(h.client.state, "minting");
  h.clock.advance(1);
  assert.equal(h.mint.calls[0].init.signal.aborted, true);
  const s = h.client.snapshot;
  assert.deepEqual([s.state, s.cause, s.mintStatus, s.error, s.delayMs], ["backoff", "mint-failed", 0, "the ticket request timed out", 375]);
  answer.resolve(Response.json({ ticket: "wst_late" }));
  await flush();
  assert.equal(h.sockets.length, 0);
  assert.equal(h.client.state, "backoff");
});
