// @ts-check
/**
 * ws-ticket.js: keep one ticket-authenticated WebSocket open (the browser
 * client of tower-ws-ticket). Dependency-free ES module.
 *
 * Every connect, reconnects included, first POSTs to the mint route for a
 * fresh single-use ticket: a ticket is worthless once tried (it may have been
 * burned by a consume that timed out), so none is ever reused. The ticket goes
 * to the socket and nowhere else: not into events, state, errors or the
 * console, and the socket itself is never exposed (its `url` holds the ticket
 * in query mode).
 *
 * @module ws-ticket
 */

/** The marker subprotocol; the server selects it when it selects none of the app's. */
export const MARKER = "ws-ticket";

/** Close codes the server's layer sends (`accept_then_close`: 4401 for a missing or spent credential, 4403 for a refused Origin). */
export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_FORBIDDEN = 4403;
export const CLOSE_TRY_AGAIN_LATER = 1013;

// Unreserved URL characters only: such a ticket is also a valid subprotocol
// token, so `new WebSocket` cannot throw on it, and a reply that is not a
// ticket of ours is refused before it gets near a socket.
const TICKET_SHAPE = /^[A-Za-z0-9._~-]+$/;

/** @typedef {"minting" | "connecting" | "open" | "backoff" | "stopped"} State */
/** @typedef {"closed" | "forbidden" | "signed out" | "error"} StopReason */
/**
 * What led to the current state: "start" (connect()), "reconnect"
 * (handle.reconnect()), "retry" (a backoff wait ended), "minted" (a ticket
 * arrived), "opened", "established" (the open socket got a message or lasted
 * `stableAfterMs`: counters reset), "close" (an open socket closed),
 * "handshake-failed" (a socket closed or timed out before `open`),
 * "mint-failed", "app-close" (handle.close()), "error" (the WebSocket
 * constructor threw).
 * @typedef {"start" | "reconnect" | "retry" | "minted" | "opened" | "established" | "close" | "handshake-failed" | "mint-failed" | "app-close" | "error"} Cause
 */

/**
 * A snapshot of the client, frozen; `statechange` carries one as `detail`.
 * Counters count since the last established connection (see `stableAfterMs`).
 * @typedef {object} Snapshot
 * @property {State} state
 * @property {StopReason | null} reason Why it stopped; null unless `state` is "stopped".
 * @property {Cause} cause What led to this state.
 * @property {number | null} closeCode The last socket close code seen (null before any).
 * @property {string} closeReason The last close reason text (the server's; never a credential).
 * @property {number | null} mintStatus The last mint answer's HTTP status; 0 for a network error or timeout.
 * @property {number} attempt Tickets requested, this one included.
 * @property {number} rejections 4401 closes.
 * @property {number} backoffs Waits before minting again.
 * @property {number | null} delayMs In "backoff": the wait chosen, in ms; null otherwise.
 * @property {"backoff" | "retry-after" | null} delayFrom Where `delayMs` came from.
 * @property {string | null} error A short description of the failure behind this state; never holds the ticket.
 */

/**
 * @typedef {object} ConnectOptions
 * @property {string} mintUrl The mint route, POSTed with same-origin credentials before every connect.
 * @property {string} url The WebSocket URL (ws:, wss:, or http(s)/relative where the browser allows).
 * @property {string | string[]} [protocols] The app's own subprotocols, offered after the ticket entries.
 * @property {"subprotocol" | "query"} [credentialIn] Where the ticket travels; default "subprotocol".
 * @property {"blob" | "arraybuffer"} [binaryType] Set on every socket.
 * @property {Record<string, string>} [mintHeaders] Extra headers for the mint POST (a CSRF token, say).
 * @property {number} [maxImmediateRetries] 4401 closes answered by minting again at once; later ones back off. Default 3.
 * @property {number} [minDelayMs] First backoff ceiling; default 500.
 * @property {number} [maxDelayMs] Backoff cap; default 30000.
 * @property {number} [backoffFactor] Growth per backoff; default 2.
 * @property {number} [stableAfterMs] An open socket counts as established (counters reset) after a first message or this long; default 5000.
 * @property {number} [mintTimeoutMs] Give up on a mint request after this long; default 10000.
 * @property {number} [openTimeoutMs] Give up on a handshake after this long; default 15000.
 * @property {new (url: string, protocols?: string[]) => WebSocket} [WebSocket] Default globalThis.WebSocket.
 * @property {(input: string, init?: RequestInit) => Promise<Response>} [fetch] Default globalThis.fetch.
 * @property {(fn: () => void, ms: number) => any} [setTimeout] Default globalThis.setTimeout.
 * @property {(id: any) => void} [clearTimeout] Default globalThis.clearTimeout.
 * @property {() => number} [random] In [0, 1), for jitter; default Math.random.
 */

/**
 * Opens a ticket-authenticated socket and keeps it open until `close()`,
 * a 4403, or a 401 from the mint route. Starts in a microtask, so listeners
 * added right after this call see the first `statechange`.
 * @param {ConnectOptions} options
 * @returns {WsTicketClient}
 */
export function connect(options) {
  return new WsTicketClient(options);
}

/** `url` with `ticket=` appended to its query (any existing query kept). */
export function withTicket(/** @type {string} */ url, /** @type {string} */ ticket) {
  const hash = url.indexOf("#");
  const base = hash < 0 ? url : url.slice(0, hash);
  const sep = !base.includes("?") ? "?" : /[?&]$/.test(base) ? "" : "&";
  return `${base}${sep}ticket=${encodeURIComponent(ticket)}${hash < 0 ? "" : url.slice(hash)}`;
}

/** Delta-seconds only; an HTTP date or junk falls back to backoff. */
function retryAfterMs(/** @type {string | null} */ value) {
  return value !== null && /^\s*\d+\s*$/.test(value) ? Number(value) * 1000 : null;
}

/**
 * The handle `connect` returns. Events: `open` (Event), `message`
 * (MessageEvent, `data`), `close` (Event with `code`, `reason`, `wasClean`;
 * one for every `open`), `statechange` (CustomEvent, `detail`: a Snapshot).
 */
export class WsTicketClient extends EventTarget {
  #o;
  #env;
  /** @type {WebSocket | null} */ #ws = null;
  #protocol = "";
  // Bumped whenever pending async work (a mint, the start) becomes stale.
  #epoch = 0;
  /** @type {AbortController | null} */ #abort = null;
  /** @type {Record<string, any>} */ #timers = {};
  /** @type {Omit<Snapshot, "state" | "reason" | "cause" | "delayMs" | "delayFrom" | "error">} */
  #n = { closeCode: null, closeReason: "", mintStatus: null, attempt: 0, rejections: 0, backoffs: 0 };
  /** @type {Readonly<Snapshot>} */ #snap;

  /** @param {ConnectOptions} options */
  constructor(options) {
    super();
    const { mintUrl, url, credentialIn = "subprotocol" } = options;
    const protocols = [options.protocols ?? []].flat();
    if (typeof mintUrl !== "string" || typeof url !== "string") throw new TypeError("ws-ticket: mintUrl and url must be strings");
    if (credentialIn !== "subprotocol" && credentialIn !== "query") throw new TypeError('ws-ticket: credentialIn must be "subprotocol" or "query"');
    if (protocols.some((p) => p === MARKER || p.startsWith(`${MARKER}.`))) throw new TypeError(`ws-ticket: "${MARKER}" protocols are the client's own`);
    const g = /** @type {any} */ (globalThis);
    this.#o = {
      mintUrl, url, protocols, credentialIn,
      binaryType: options.binaryType, mintHeaders: options.mintHeaders ?? {},
      maxImmediateRetries: options.maxImmediateRetries ?? 3,
      minDelayMs: options.minDelayMs ?? 500, maxDelayMs: options.maxDelayMs ?? 30000,
      backoffFactor: options.backoffFactor ?? 2, stableAfterMs: options.stableAfterMs ?? 5000,
      mintTimeoutMs: options.mintTimeoutMs ?? 10000, openTimeoutMs: options.openTimeoutMs ?? 15000,
    };
    // Called as plain functions, never as methods of this object: a browser
    // throws "Illegal invocation" when fetch or setTimeout get a foreign `this`.
    this.#env = {
      WebSocket: options.WebSocket ?? g.WebSocket,
      fetch: options.fetch ?? g.fetch.bind(g),
      setTimeout: options.setTimeout ?? g.setTimeout.bind(g),
      clearTimeout: options.clearTimeout ?? g.clearTimeout.bind(g),
      random: options.random ?? Math.random,
    };
    this.#snap = this.#freeze("minting", "start", {});
    const epoch = this.#epoch;
    queueMicrotask(() => { if (epoch === this.#epoch) this.#mint("start", {}); });
  }

  /** @returns {State} */
  get state() { return this.#snap.state; }
  /** The latest snapshot (the last `statechange` detail). */
  get snapshot() { return this.#snap; }
  /** The app protocol the server selected on the current (or last) open socket; "" for none. */
  get protocol() { return this.#protocol; }

  /**
   * Sends on the open socket. Throws an InvalidStateError DOMException when no
   * socket is open: nothing is queued, since a message meant for one
   * connection may be wrong on the next. Wait for `open`.
   * @param {Parameters<WebSocket["send"]>[0]} data
   */
  send(data) {
    if (!this.#ws || this.#snap.state !== "open") throw new DOMException(`ws-ticket: cannot send while ${this.#snap.state}`, "InvalidStateError");
    this.#ws.send(data);
  }

  /**
   * Closes the socket (if any) and stops for good: state "stopped", reason
   * "closed". An open socket still gets its `close` event.
   * @param {number} [code] @param {string} [reason]
   */
  close(code = 1000, reason = "") {
    const ws = this.#cancel();
    // A client already stopped keeps its reason ("forbidden", "signed out").
    if (this.#snap.state !== "stopped") this.#set("stopped", "app-close", { reason: "closed" });
    try { ws?.close(code, reason); } catch (e) { ws?.close(); throw e; }
  }

  /** Drops the socket (if any) and connects afresh now, counters reset; also restarts a stopped client. */
  reconnect() {
    const ws = this.#cancel();
    ws?.close(1000, "reconnect");
    this.#resetCounters();
    this.#mint("reconnect", {});
  }

  // ---- internals ----

  /** Stops timers, abandons a pending mint, detaches the socket (returned). */
  #cancel() {
    this.#epoch++;
    for (const key of Object.keys(this.#timers)) this.#clear(key);
    this.#abort?.abort();
    this.#abort = null;
    const ws = this.#ws;
    this.#ws = null;
    return ws;
  }

  /** @param {string} key @param {() => void} fn @param {number} ms */
  #later(key, fn, ms) {
    this.#clear(key);
    const { setTimeout } = this.#env;
    this.#timers[key] = setTimeout(() => { delete this.#timers[key]; fn(); }, ms);
  }

  /** @param {string} key */
  #clear(key) {
    const { clearTimeout } = this.#env;
    if (key in this.#timers) clearTimeout(this.#timers[key]);
    delete this.#timers[key];
  }

  #resetCounters() {
    Object.assign(this.#n, { attempt: 0, rejections: 0, backoffs: 0 });
  }

  // The rule for every transition below: start its side effects (timers,
  // fetch, socket) first and dispatch last, so that a listener calling
  // close() or reconnect() from inside the dispatch cancels them.

  /** @param {State} state @param {Cause} cause @param {Partial<Snapshot>} extra */
  #freeze(state, cause, extra) {
    return Object.freeze({ state, reason: null, cause, ...this.#n, delayMs: null, delayFrom: null, error: null, ...extra });
  }

  /** @param {State} state @param {Cause} cause @param {Partial<Snapshot>} extra */
  #set(state, cause, extra) {
    if ("closeCode" in extra) Object.assign(this.#n, { closeCode: extra.closeCode, closeReason: extra.closeReason ?? "" });
    if ("mintStatus" in extra) this.#n.mintStatus = extra.mintStatus ?? null;
    this.#snap = this.#freeze(state, cause, extra);
    this.dispatchEvent(new CustomEvent("statechange", { detail: this.#snap }));
  }

  /** @param {StopReason} reason @param {Cause} cause @param {Partial<Snapshot>} extra */
  #stop(reason, cause, extra) {
    this.#cancel();
    this.#set("stopped", cause, { ...extra, reason });
  }

  /**
   * Waits, then mints again: the server's Retry-After when it sent one,
   * otherwise exponential backoff with "equal jitter": a delay in
   * [ceiling/2, ceiling), never near zero, so a crowd of clients that lost a
   * server together spreads out instead of returning in one wave.
   * @param {Cause} cause @param {Partial<Snapshot>} extra @param {string | null} [retryAfter]
   */
  #backoff(cause, extra, retryAfter = null) {
    const { minDelayMs, maxDelayMs, backoffFactor } = this.#o;
    const { random } = this.#env;
    const n = ++this.#n.backoffs;
    let delayMs = retryAfterMs(retryAfter);
    /** @type {"backoff" | "retry-after"} */ let delayFrom = "retry-after";
    if (delayMs === null) {
      const ceiling = Math.min(maxDelayMs, minDelayMs * backoffFactor ** Math.min(n - 1, 60));
      delayMs = Math.floor(ceiling / 2 + random() * (ceiling / 2));
      delayFrom = "backoff";
    }
    this.#later("backoff", () => this.#mint("retry", {}), delayMs);
    this.#set("backoff", cause, { ...extra, delayMs, delayFrom });
  }

  /** @param {Cause} cause @param {Partial<Snapshot>} extra */
  async #mint(cause, extra) {
    const epoch = ++this.#epoch;
    this.#n.attempt++;
    const abort = (this.#abort = new AbortController());
    this.#later("mint", () => {
      abort.abort();
      this.#abort = null;
      this.#epoch++; // the answer, if it ever comes, is stale now
      this.#backoff("mint-failed", { mintStatus: 0, error: "the ticket request timed out" });
    }, this.#o.mintTimeoutMs);
    const pending = this.#requestTicket(abort.signal);
    this.#set("minting", cause, extra);
    const answer = await pending;
    if (epoch !== this.#epoch) return;
    this.#clear("mint");
    this.#abort = null;
    const { status, ticket, error } = answer;
    const fields = { mintStatus: status, error };
    if (status === 401) return this.#stop("signed out", "mint-failed", fields);
    // A cross-site refusal (the mint route's same-origin check): retrying cannot change the Origin.
    if (status === 403) return this.#stop("forbidden", "mint-failed", fields);
    if (ticket === undefined) return this.#backoff("mint-failed", fields, status === 429 || status === 503 ? answer.retryAfter : null);
    this.#open(ticket, status);
  }

  /**
   * One POST; every failure becomes a status (0: no answer) and a fixed
   * text. Never a parser's message: V8's JSON errors quote the input.
   * @param {AbortSignal} signal
   * @returns {Promise<{ status: number, ticket?: string, error: string | null, retryAfter?: string | null }>}
   */
  async #requestTicket(signal) {
    const fetch = this.#env.fetch;
    let res;
    try {
      res = await fetch(this.#o.mintUrl, {
        method: "POST", credentials: "same-origin", cache: "no-store", headers: this.#o.mintHeaders, signal,
      });
    } catch {
      return { status: 0, error: "the ticket request failed: no answer" };
    }
    const status = res.status;
    if (!res.ok) return { status, error: `the ticket request was refused: HTTP ${status}`, retryAfter: res.headers.get("Retry-After") };
    try {
      const ticket = (await res.json())?.ticket;
      if (typeof ticket === "string" && TICKET_SHAPE.test(ticket)) return { status, ticket, error: null };
    } catch { /* bad JSON: reported below without its text */ }
    return { status, error: "the ticket response held no usable ticket" };
  }

  /** @param {string} ticket @param {number} mintStatus */
  #open(ticket, mintStatus) {
    const { url, protocols, credentialIn, binaryType, openTimeoutMs, stableAfterMs } = this.#o;
    const WebSocketCtor = this.#env.WebSocket;
    /** @type {WebSocket} */ let ws;
    try {
      ws = credentialIn === "query"
        ? new WebSocketCtor(withTicket(url, ticket), protocols)
        : new WebSocketCtor(url, [MARKER, `${MARKER}.${ticket}`, ...protocols]);
    } catch (e) {
      // A bad URL or protocol list, which retrying cannot fix. Only the
      // error's name is kept: the browser's message quotes the URL.
      return this.#stop("error", "error", { error: `the WebSocket constructor threw ${/** @type {Error} */ (e)?.name ?? "an error"}` });
    }
    if (binaryType) ws.binaryType = binaryType;
    this.#ws = ws;
    this.#protocol = "";
    let opened = false;
    const established = () => {
      this.#clear("stable");
      this.#resetCounters();
      this.#set("open", "established", {});
    };
    this.#later("open", () => {
      this.#ws = null;
      ws.close();
      this.#backoff("handshake-failed", { error: "the handshake timed out" });
    }, openTimeoutMs);
    ws.onopen = () => {
      if (ws !== this.#ws) return;
      this.#clear("open");
      // "ws-ticket" means the server picked none of the app's protocols.
      this.#protocol = ws.protocol === MARKER ? "" : ws.protocol;
      // Not reset yet: a server with accept_then_close opens every refused
      // socket before closing it with 4401, and that must not reset the cap.
      this.#later("stable", established, stableAfterMs);
      this.#set("open", "opened", {});
      if (ws !== this.#ws) return; // a statechange listener closed it
      opened = true; // from here on, this socket owes the page a `close` event
      this.dispatchEvent(new Event("open"));
    };
    ws.onmessage = (ev) => {
      if (ws !== this.#ws) return;
      // accept_then_close never sends data: a message means the app's handler runs.
      if ("stable" in this.#timers) established();
      if (ws === this.#ws) this.dispatchEvent(new MessageEvent("message", { data: ev.data }));
    };
    ws.onclose = (ev) => {
      const current = ws === this.#ws;
      if (current) {
        this.#ws = null;
        this.#clear("open");
        this.#clear("stable");
      }
      const epoch = this.#epoch;
      if (opened) {
        this.dispatchEvent(Object.assign(new Event("close"), { code: ev.code, reason: ev.reason, wasClean: ev.wasClean }));
      }
      // Not ours any more (close() or reconnect() came first, maybe from a
      // `close` listener just now): nothing to decide.
      if (!current || epoch !== this.#epoch) return;
      this.#afterClose(ev.code, ev.reason, opened);
    };
    // No onerror: an error is always followed by a close, which decides.
    this.#set("connecting", "minted", { mintStatus });
  }

  /** @param {number} code @param {string} reason @param {boolean} opened */
  #afterClose(code, reason, opened) {
    const extra = { closeCode: code, closeReason: reason };
    const cause = opened ? "close" : "handshake-failed";
    if (code === CLOSE_FORBIDDEN) return this.#stop("forbidden", cause, extra);
    if (code === CLOSE_UNAUTHORIZED && ++this.#n.rejections <= this.#o.maxImmediateRetries) {
      return this.#mint(cause, extra);
    }
    // 1013, 1006 (a dropped socket, or a refused handshake: a 401 or 503
    // without accept_then_close looks like this), too many 4401s, and any
    // other code: wait, then mint a fresh ticket.
    this.#backoff(cause, { ...extra, error: opened ? null : "the handshake failed" });
  }
}
