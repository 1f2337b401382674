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
export declare const MARKER = "ws-ticket";
/** Close codes the server's layer sends (`accept_then_close`: 4401 for a missing or spent credential, 4403 for a refused Origin). */
export declare const CLOSE_UNAUTHORIZED = 4401;
export declare const CLOSE_FORBIDDEN = 4403;
export declare const CLOSE_TRY_AGAIN_LATER = 1013;
export type State = "minting" | "connecting" | "open" | "backoff" | "stopped";
export type StopReason = "closed" | "forbidden" | "signed out" | "error";
export type Cause = "start" | "reconnect" | "retry" | "minted" | "opened" | "established" | "close" | "handshake-failed" | "mint-failed" | "app-close" | "error";
export type Snapshot = {
    state: State;
    /**
     * Why it stopped; null unless `state` is "stopped".
     */
    reason: StopReason | null;
    /**
     * What led to this state.
     */
    cause: Cause;
    /**
     * The last socket close code seen (null before any).
     */
    closeCode: number | null;
    /**
     * The last close reason text (the server's; never a credential).
     */
    closeReason: string;
    /**
     * The last mint answer's HTTP status; 0 for a network error or timeout.
     */
    mintStatus: number | null;
    /**
     * Tickets requested, this one included.
     */
    attempt: number;
    /**
     * 4401 closes.
     */
    rejections: number;
    /**
     * Waits before minting again.
     */
    backoffs: number;
    /**
     * In "backoff": the wait chosen, in ms; null otherwise.
     */
    delayMs: number | null;
    /**
     * Where `delayMs` came from.
     */
    delayFrom: "backoff" | "retry-after" | null;
    /**
     * A short description of the failure behind this state; never holds the ticket.
     */
    error: string | null;
};
export type ConnectOptions = {
    /**
     * The mint route, POSTed with same-origin credentials before every connect.
     */
    mintUrl: string;
    /**
     * The WebSocket URL (ws:, wss:, or http(s)/relative where the browser allows).
     */
    url: string;
    /**
     * The app's own subprotocols, offered after the ticket entries.
     */
    protocols?: string | string[];
    /**
     * Where the ticket travels; default "subprotocol".
     */
    credentialIn?: "subprotocol" | "query";
    /**
     * Set on every socket.
     */
    binaryType?: "blob" | "arraybuffer";
    /**
     * Extra headers for the mint POST (a CSRF token, say).
     */
    mintHeaders?: Record<string, string>;
    /**
     * 4401 closes answered by minting again at once; later ones back off. Default 3.
     */
    maxImmediateRetries?: number;
    /**
     * First backoff ceiling; default 500.
     */
    minDelayMs?: number;
    /**
     * Backoff cap; default 30000.
     */
    maxDelayMs?: number;
    /**
     * Growth per backoff; default 2.
     */
    backoffFactor?: number;
    /**
     * An open socket counts as established (counters reset) after a first message or this long; default 5000.
     */
    stableAfterMs?: number;
    /**
     * Give up on a mint request after this long; default 10000.
     */
    mintTimeoutMs?: number;
    /**
     * Give up on a handshake after this long; default 15000.
     */
    openTimeoutMs?: number;
    /**
     * Default globalThis.WebSocket.
     */
    WebSocket?: new (url: string, protocols?: string[]) => WebSocket;
    /**
     * Default globalThis.fetch.
     */
    fetch?: (input: string, init?: RequestInit) => Promise<Response>;
    /**
     * Default globalThis.setTimeout.
     */
    setTimeout?: (fn: () => void, ms: number) => any;
    /**
     * Default globalThis.clearTimeout.
     */
    clearTimeout?: (id: any) => void;
    /**
     * In [0, 1), for jitter; default Math.random.
     */
    random?: () => number;
};
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
export declare function connect(options: ConnectOptions): WsTicketClient;
/** `url` with `ticket=` appended to its query (any existing query kept). */
export declare function withTicket(/** @type {string} */ url: string, /** @type {string} */ ticket: string): string;
/**
 * The handle `connect` returns. Events: `open` (Event), `message`
 * (MessageEvent, `data`), `close` (Event with `code`, `reason`, `wasClean`;
 * one for every `open`), `statechange` (CustomEvent, `detail`: a Snapshot).
 */
export declare class WsTicketClient extends EventTarget {
    #private;
    /** @param {ConnectOptions} options */
    constructor(options: ConnectOptions);
    /** @returns {State} */
    get state(): State;
    /** The latest snapshot (the last `statechange` detail). */
    get snapshot(): Readonly<Snapshot>;
    /** The app protocol the server selected on the current (or last) open socket; "" for none. */
    get protocol(): string;
    /**
     * Sends on the open socket. Throws an InvalidStateError DOMException when no
     * socket is open: nothing is queued, since a message meant for one
     * connection may be wrong on the next. Wait for `open`.
     * @param {Parameters<WebSocket["send"]>[0]} data
     */
    send(data: Parameters<WebSocket["send"]>[0]): void;
    /**
     * Closes the socket (if any) and stops for good: state "stopped", reason
     * "closed". An open socket still gets its `close` event.
     * @param {number} [code] @param {string} [reason]
     */
    close(code?: number, reason?: string): void;
    /** Drops the socket (if any) and connects afresh now, counters reset; also restarts a stopped client. */
    reconnect(): void;
}
