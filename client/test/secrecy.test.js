// The ticket goes to the socket and nowhere else.
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness, flush, TICKET_PREFIX } from "../test-support/fakes.js";

/** Everything a page can read off an event, as text. */
function eventText(e) {
  const own = Object.fromEntries(["code", "reason", "wasClean", "data"].filter((k) => k in e).map((k) => [k, e[k]]));
  return `${e.type} ${JSON.stringify(e.detail ?? null)} ${JSON.stringify(own)} ${String(e.detail?.error)}`;
}

/** Replaces the console's methods with recorders for the test's duration. */
function spyConsole(t) {
  const calls = [];
  for (const name of ["log", "info", "warn", "error", "debug", "trace"]) {
    t.mock.method(console, name, (...args) => calls.push([name, args]));
  }
  return calls;
}

for (const credentialIn of ["subprotocol", "query"]) {
  test(`${credentialIn} mode: no ticket in any event, state, error text, handle property or console output`, async (t) => {
    const consoleCalls = spyConsole(t);
    const h = harness({ credentialIn, protocols: ["chat.v1"] });
    await flush();
    const s = () => h.socket();
    s().serverOpen("chat.v1");
    s().serverMessage("hi");
    s().serverClose(4401, "ticket refused");
    await flush();
    s().serverClose(1006); // failed handshake
    h.clock.advance(h.client.snapshot.delayMs);
    await flush();
    h.clock.advance(15000); // handshake timeout
    // A mint answer that is not JSON and holds a ticket: V8's parse error quotes it.
    const notJson = `${TICKET_PREFIX}7_bare`;
    assert.throws(() => JSON.parse(notJson), (e) => e.message.includes(TICKET_PREFIX), "the leak this guards against");
    h.mint.queue.push(new Response(notJson, { status: 200 }));
    h.clock.advance(h.client.snapshot.delayMs);
    await flush();
    assert.equal(h.client.snapshot.error, "the ticket response held no usable ticket");
    h.clock.advance(h.client.snapshot.delayMs);
    await flush();
    s().serverOpen();
    s().serverClose(1013, "store down");
    h.clock.advance(h.client.snapshot.delayMs);
    await flush();
    s().serverOpen();
    h.client.reconnect();
    await flush();
    s().serverOpen();
    h.client.close();
    s().serverClose(1000);

    assert.ok(h.mint.tickets.length >= 6, "the scenario minted tickets");
    h.mint.tickets.forEach((ticket, i) => {
      const carried = credentialIn === "query" ? h.sockets[i].url : h.sockets[i].protocols.join(",");
      assert.ok(carried.includes(ticket), "each ticket reached its socket (so the scan below would see one)");
    });
    const seen = [
      ...h.events.map(eventText),
      JSON.stringify(h.client),
      JSON.stringify(h.client.snapshot),
      h.client.protocol,
      Object.keys(h.client).join(","),
      JSON.stringify(consoleCalls),
    ].join("\n");
    assert.ok(!seen.includes(TICKET_PREFIX), "no ticket, whole or partial, anywhere a page can read");
    assert.ok(!seen.includes("wst_"), "not even the prefix");
    assert.deepEqual(consoleCalls, []);
  });
}

test("a WebSocket constructor that throws (quoting the URL) stops with reason error and only the error's name", async (t) => {
  const consoleCalls = spyConsole(t);
  class Throwing {
    constructor(url) {
      throw new DOMException(`Failed to construct 'WebSocket': The URL '${url}' is invalid.`, "SyntaxError");
    }
  }
  const h = harness({ credentialIn: "query", WebSocket: Throwing });
  await flush();
  const s = h.client.snapshot;
  assert.deepEqual([s.state, s.reason, s.cause, s.error], ["stopped", "error", "error", "the WebSocket constructor threw SyntaxError"]);
  assert.ok(!h.events.map(eventText).join("\n").includes(TICKET_PREFIX));
  assert.deepEqual(consoleCalls, []);
  assert.deepEqual(h.clock.pending(), [], "no retry: a bad URL stays bad");
});

test("the handle exposes no socket: nothing on it leads to the socket's url", async () => {
  const h = harness({ credentialIn: "query" });
  await flush();
  const reachable = [];
  for (let o = h.client; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const key of Object.getOwnPropertyNames(o)) {
      if (key === "constructor") continue;
      const d = Object.getOwnPropertyDescriptor(o, key);
      if (d.get) reachable.push(d.get.call(h.client));
    }
  }
  assert.ok(!JSON.stringify(reachable).includes(TICKET_PREFIX));
  assert.ok(!reachable.some((v) => v === h.socket()));
});
