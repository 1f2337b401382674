// Starting up, the mint request, where the ticket goes, and the open socket.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, withTicket, MARKER } from "../ws-ticket.js";
import { harness, started, flush, establish, trail } from "../test-support/fakes.js";

test("starts in a microtask, so listeners added right after connect() see the first statechange", async () => {
  const h = harness();
  assert.equal(h.mint.calls.length, 0);
  assert.equal(h.client.state, "minting");
  await flush();
  assert.deepEqual(trail(h), ["minting:start", "connecting:minted"]);
  assert.equal(h.states[0].attempt, 1);
});

test("the mint request is a POST to mintUrl with same-origin credentials, no-store, and the app's headers", async () => {
  const h = await started({ mintHeaders: { "X-CSRF-Token": "abc" } });
  assert.equal(h.mint.calls.length, 1);
  const { url, init } = h.mint.calls[0];
  assert.equal(url, "/api/auth/ws-ticket");
  assert.equal(init.method, "POST");
  assert.equal(init.credentials, "same-origin");
  assert.equal(init.cache, "no-store");
  assert.deepEqual(init.headers, { "X-CSRF-Token": "abc" });
  assert.ok(init.signal instanceof AbortSignal);
});

test("subprotocol placement (default): URL untouched; marker, ticket entry, then the app's protocols", async () => {
  const h = await started({ protocols: ["chat.v1", "chat.v2"] });
  const [ticket] = h.mint.tickets;
  assert.equal(h.socket().url, "wss://example.test/api/ws");
  assert.deepEqual(h.socket().protocols, [MARKER, `ws-ticket.${ticket}`, "chat.v1", "chat.v2"]);
  assert.equal(MARKER, "ws-ticket");
});

test("subprotocol placement with no app protocols offers only the two ticket entries", async () => {
  const h = await started();
  assert.deepEqual(h.socket().protocols, ["ws-ticket", `ws-ticket.${h.mint.tickets[0]}`]);
});

test("a protocols string counts as one app protocol", async () => {
  const h = await started({ protocols: "chat.v1" });
  assert.deepEqual(h.socket().protocols, ["ws-ticket", `ws-ticket.${h.mint.tickets[0]}`, "chat.v1"]);
});

test("query placement: ?ticket= appended to the URL, app protocols passed alone", async () => {
  const h = await started({ credentialIn: "query", protocols: ["chat.v1"] });
  assert.equal(h.socket().url, `wss://example.test/api/ws?ticket=${h.mint.tickets[0]}`);
  assert.deepEqual(h.socket().protocols, ["chat.v1"]);
});

test("query placement keeps an existing query and appends &ticket=", async () => {
  const h = await started({ credentialIn: "query", url: "wss://example.test/api/ws?room=a%20b&x=1" });
  assert.equal(h.socket().url, `wss://example.test/api/ws?room=a%20b&x=1&ticket=${h.mint.tickets[0]}`);
  assert.deepEqual(h.socket().protocols, []);
});

test("withTicket percent-encodes the ticket, keeps the query as written, and stays before a fragment", () => {
  assert.equal(withTicket("wss://h/ws", "a+b/c=d&e"), "wss://h/ws?ticket=a%2Bb%2Fc%3Dd%26e");
  assert.equal(withTicket("wss://h/ws?", "t"), "wss://h/ws?ticket=t");
  assert.equal(withTicket("wss://h/ws?a=1&", "t"), "wss://h/ws?a=1&ticket=t");
  assert.equal(withTicket("wss://h/ws?b=%2F&a=1", "t"), "wss://h/ws?b=%2F&a=1&ticket=t");
  assert.equal(withTicket("wss://h/ws?a=1#frag", "t"), "wss://h/ws?a=1&ticket=t#frag");
  assert.equal(withTicket("/api/ws", "t"), "/api/ws?ticket=t");
});

test("open: state open, an open event, then message events carrying the data", async () => {
  const h = await started();
  h.socket().serverOpen();
  assert.equal(h.client.state, "open");
  assert.deepEqual(trail(h), ["minting:start", "connecting:minted", "open:opened"]);
  assert.equal(h.events.at(-1).type, "open");
  h.socket().serverMessage("hello");
  const message = h.events.filter((e) => e.type === "message");
  assert.equal(message.length, 1);
  assert.equal(message[0].data, "hello");
  assert.ok(message[0] instanceof MessageEvent);
});

test("handle.protocol is the app protocol the server picked; the marker alone means none", async () => {
  const h = await started({ protocols: ["chat.v1", "chat.v2"] });
  assert.equal(h.client.protocol, "");
  h.socket().serverOpen("chat.v2");
  assert.equal(h.client.protocol, "chat.v2");
  h.client.reconnect();
  await flush();
  assert.equal(h.client.protocol, "", "cleared for the next socket");
  h.socket().serverOpen("ws-ticket");
  assert.equal(h.client.protocol, "");
});

test("binaryType is set on every socket", async () => {
  const h = await started({ binaryType: "arraybuffer" });
  assert.equal(h.socket().binaryType, "arraybuffer");
  h.socket().serverClose(1006);
  h.clock.advance(h.client.snapshot.delayMs);
  await flush();
  assert.equal(h.sockets.length, 2);
  assert.equal(h.socket().binaryType, "arraybuffer");
});

test("mints before every connect: one fresh ticket per socket, reconnects of every kind included", async () => {
  const h = await started({ credentialIn: "query" });
  const check = () => {
    assert.equal(h.mint.calls.length, h.sockets.length, "mints == connects");
    assert.equal(new Set(h.mint.tickets).size, h.mint.tickets.length, "every ticket differs");
    h.sockets.forEach((s, i) => assert.ok(s.url.endsWith(`ticket=${h.mint.tickets[i]}`), `socket ${i} carries ticket ${i}`));
  };
  check();
  h.socket().serverOpen();
  h.socket().serverClose(4401); // at once
  await flush();
  check();
  h.socket().serverClose(1006); // failed handshake: backoff
  h.clock.advance(h.client.snapshot.delayMs);
  await flush();
  check();
  establish(h);
  h.socket().serverClose(1013); // backoff
  h.clock.advance(h.client.snapshot.delayMs);
  await flush();
  check();
  h.client.reconnect(); // the app's
  await flush();
  check();
  assert.equal(h.sockets.length, 5);
});

test("bad options throw a TypeError at connect()", () => {
  const base = { mintUrl: "/m", url: "wss://h/ws", WebSocket: class {}, fetch: async () => {} };
  assert.throws(() => connect({ ...base, url: undefined }), TypeError);
  assert.throws(() => connect({ ...base, mintUrl: 5 }), TypeError);
  assert.throws(() => connect({ ...base, credentialIn: "header" }), TypeError);
  assert.throws(() => connect({ ...base, protocols: ["ws-ticket"] }), TypeError);
  assert.throws(() => connect({ ...base, protocols: ["chat", "ws-ticket.x"] }), TypeError);
});
