// Test doubles for ws-ticket.js: a fake clock, a fake WebSocket the test
// drives by hand, and a fake mint route. No test lives here.
import { connect } from "../ws-ticket.js";

/** Timers that only run when the test advances time. */
export class FakeClock {
  now = 0;
  #timers = new Map();
  #nextId = 1;
  setTimeout = (fn, ms) => {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.now + ms, fn });
    return id;
  };
  clearTimeout = (id) => {
    this.#timers.delete(id);
  };
  /** Milliseconds from now of every pending timer, soonest first. */
  pending() {
    return [...this.#timers.values()].map((t) => t.at - this.now).sort((a, b) => a - b);
  }
  /** Moves time forward by `ms`, running each timer that falls due, in order. */
  advance(ms) {
    const end = this.now + ms;
    for (;;) {
      let next = null;
      for (const [id, t] of this.#timers) if (t.at <= end && (!next || t.at < next[1].at)) next = [id, t];
      if (!next) break;
      this.#timers.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
    }
    this.now = end;
  }
}

/** A WebSocket class whose instances do nothing until the test says so. */
export function fakeSockets() {
  const sockets = [];
  class FakeWebSocket {
    constructor(url, protocols) {
      this.url = url;
      this.protocols = protocols;
      this.protocol = "";
      this.binaryType = "blob";
      this.sent = [];
      this.closeCalls = [];
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      sockets.push(this);
    }
    send(data) { this.sent.push(data); }
    close(code, reason) { this.closeCalls.push([code, reason]); }
    // What the server and the browser do:
    serverOpen(protocol = "ws-ticket") {
      this.protocol = protocol;
      this.onopen?.(new Event("open"));
    }
    serverMessage(data) { this.onmessage?.(new MessageEvent("message", { data })); }
    serverClose(code, reason = "", wasClean = code !== 1006) {
      this.onclose?.(Object.assign(new Event("close"), { code, reason, wasClean }));
    }
  }
  return { WebSocket: FakeWebSocket, sockets };
}

export const TICKET_PREFIX = "wst_SECRET";

/**
 * A mint route. Answers a fresh ticket per call unless the test queued an
 * answer: a Response, or a function (init) => Response | Promise | throws.
 */
export function fakeMint() {
  const calls = [];
  const queue = [];
  const tickets = [];
  const fetch = async (url, init) => {
    calls.push({ url, init });
    const answer = queue.shift();
    if (typeof answer === "function") return answer(init);
    if (answer) return answer;
    const ticket = `${TICKET_PREFIX}${tickets.length + 1}_aB3-xY9_zQ`;
    tickets.push(ticket);
    return Response.json({ ticket, ttl_seconds: 30 });
  };
  return { fetch, calls, queue, tickets };
}

/** Lets pending promises (the mint's fetch and JSON) settle. */
export const flush = () => new Promise((resolve) => setImmediate(resolve));

/** A connected client on fakes, with every event it dispatches recorded. */
export function harness(options = {}) {
  const clock = new FakeClock();
  const { WebSocket, sockets } = fakeSockets();
  const mint = fakeMint();
  const client = connect({
    mintUrl: "/api/auth/ws-ticket",
    url: "wss://example.test/api/ws",
    WebSocket,
    fetch: mint.fetch,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    random: () => 0.5,
    ...options,
  });
  const states = [];
  const events = [];
  for (const type of ["statechange", "open", "message", "close"]) {
    client.addEventListener(type, (e) => {
      events.push(e);
      if (type === "statechange") states.push(e.detail);
    });
  }
  return { client, clock, sockets, mint, states, events, socket: () => sockets.at(-1), state: () => states.at(-1) };
}

/** Starts a harness and lets it reach "connecting" (mint answered, socket made). */
export async function started(options) {
  const h = harness(options);
  await flush();
  return h;
}

/** Opens the current socket and keeps it open past `stableAfterMs` (default 5000). */
export function establish(h, stableAfterMs = 5000) {
  h.socket().serverOpen();
  h.clock.advance(stableAfterMs);
}

/** A promise and its resolve / reject, for answers the test releases later. */
export function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

/** The state and cause of each recorded statechange. */
export const trail = (h) => h.states.map((s) => `${s.state}:${s.cause}`);
