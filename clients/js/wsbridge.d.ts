// Types for wsbridge.js, the browser client of wsbridge. See README.md for the reconnect policy.

/** The client's connection states; one at a time, see the diagram in wsbridge.js. */
export declare const ConnectionState: {
  /** A connection attempt is under way: fetching the token or in the WebSocket handshake. */
  readonly CONNECTING: 'connecting';
  /** The socket is open; send() writes straight to it. */
  readonly OPEN: 'open';
  /** The socket dropped; a timer runs until the next attempt. send() queues. */
  readonly RECONNECTING: 'reconnecting';
  /** close() was called while a socket existed; waiting for it to finish closing. */
  readonly CLOSING: 'closing';
  /** Terminal: close() was called, a "do not come back" code arrived, or attempts ran out. */
  readonly CLOSED: 'closed';
};
export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];

/** Default value of every numeric/boolean option. */
export declare const DEFAULTS: Readonly<{
  reconnect: true;
  initialDelayMs: 500;
  maxDelayMs: 30000;
  multiplier: 2;
  drainReconnectMaxMs: 1000;
  maxReconnectAttempts: number; // Infinity
  maxQueuedMessages: 100;
  maxQueuedBytes: 1048576;
}>;

/**
 * True for the close codes after which the client does not reconnect: 1000 (a service's
 * Disconnect), 1002, 1003, 1007, 1009 (protocol faults that would repeat), 1008 (policy / rate
 * limit), and 4000-4099 (the application's "do not come back").
 */
export declare function isFatalCloseCode(code: number): boolean;

/** A token, or a function returning one (maybe asynchronously); called before every attempt. */
export type TokenSource = string | (() => string | null | undefined | Promise<string | null | undefined>);

/** Data send() accepts: text (string) or binary. */
export type WsBridgeMessage = string | ArrayBuffer | ArrayBufferView | Blob;

/** The part of the WebSocket constructor the client uses (the browser's, or node's `ws`). */
export interface WebSocketConstructorLike {
  new (url: string, protocols?: string | string[]): WebSocketLike;
}
export interface WebSocketLike {
  binaryType: string;
  readonly bufferedAmount: number;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: { data: any }) => void) | null;
  onerror: ((event: any) => void) | null;
  onclose: ((event: { code: number; reason: string; wasClean: boolean }) => void) | null;
  send(data: any): void;
  close(code?: number, reason?: string): void;
}

export interface WsBridgeOpenEvent {
  type: 'open';
}
export interface WsBridgeMessageEvent {
  type: 'message';
  /** A text frame as a string, a binary frame as an ArrayBuffer. */
  data: string | ArrayBuffer;
}
export interface WsBridgeErrorEvent {
  type: 'error';
  /** The underlying error when there is one (a token function's rejection, node's `ws` error). */
  error?: unknown;
  message: string;
}
export interface WsBridgeCloseEvent {
  type: 'close';
  /** The close code; 1006 when the link died or the handshake was refused (401/429/503). */
  code: number;
  reason: string;
  wasClean: boolean;
  /** True when a reconnect is scheduled; false when this close is final. */
  willReconnect: boolean;
  /** With willReconnect: the wait before the next attempt, in ms. */
  delayMs?: number;
  /** With a final close: true when it followed this client's close(). */
  byClient?: boolean;
}
export interface WsBridgeStateInfo {
  /** Attempts since the socket was last open (CONNECTING, RECONNECTING). */
  attempt?: number;
  /** RECONNECTING: the wait before the next attempt, in ms. */
  delayMs?: number;
  /** The close code that caused this state, when there was one. */
  code?: number;
}

export interface WsBridgeClientOptions {
  /** A JWT, or a function returning one; sent as `?token=` (URL-encoded). Default: none (anonymous). */
  token?: TokenSource | null;
  /** WebSocket subprotocols, passed to the constructor as given. */
  protocols?: string | string[];
  /** The WebSocket constructor. Default: globalThis.WebSocket (in node: pass `ws`). */
  WebSocket?: WebSocketConstructorLike;
  /** setTimeout/clearTimeout to use. Default: globalThis. */
  timers?: { setTimeout(fn: () => void, ms: number): any; clearTimeout(id: any): void };
  /** A source of uniform numbers in [0, 1) for the jitter. Default: Math.random. */
  random?: () => number;
  /** Reconnect at all after a drop. Default: true. */
  reconnect?: boolean;
  /** First backoff window in ms. Default: 500. */
  initialDelayMs?: number;
  /** Largest backoff window in ms. Default: 30000. */
  maxDelayMs?: number;
  /** Growth of the window per failed attempt (>= 1). Default: 2. */
  multiplier?: number;
  /** After 1001 (server draining) the wait is uniform in [0, this) ms. Default: 1000. */
  drainReconnectMaxMs?: number;
  /** Failed attempts in a row (counting the first connect) before giving up. Default: Infinity. */
  maxReconnectAttempts?: number;
  /** Messages the send queue holds while no socket is open. Default: 100. */
  maxQueuedMessages?: number;
  /** Bytes (UTF-8 for text) the send queue holds while no socket is open. Default: 1 MiB. */
  maxQueuedBytes?: number;
  /** Replaces the "do not come back" rule. Default: isFatalCloseCode. */
  isFatalCloseCode?: (code: number) => boolean;
  onopen?: WsBridgeClient['onopen'];
  onmessage?: WsBridgeClient['onmessage'];
  onclose?: WsBridgeClient['onclose'];
  onerror?: WsBridgeClient['onerror'];
  onstatechange?: WsBridgeClient['onstatechange'];
}

/** A WebSocket that reconnects, refreshes its token and queues sends while it is away. */
export declare class WsBridgeClient {
  /** Starts connecting at once. `url`: the bridge's WebSocket URL, e.g. "wss://host/ws". */
  constructor(url: string | URL, options?: WsBridgeClientOptions);

  onopen: ((this: WsBridgeClient, event: WsBridgeOpenEvent) => void) | null;
  onmessage: ((this: WsBridgeClient, event: WsBridgeMessageEvent) => void) | null;
  onclose: ((this: WsBridgeClient, event: WsBridgeCloseEvent) => void) | null;
  onerror: ((this: WsBridgeClient, event: WsBridgeErrorEvent) => void) | null;
  onstatechange:
    | ((this: WsBridgeClient, state: ConnectionState, previous: ConnectionState, info: WsBridgeStateInfo) => void)
    | null;

  readonly state: ConnectionState;
  /** Attempts since the socket was last open (0 while open). */
  readonly attempt: number;
  /** Bytes waiting: the client's queue plus the open socket's buffer. */
  readonly bufferedAmount: number;
  /** Messages waiting in the client's queue. */
  readonly queuedMessages: number;

  /**
   * Sends now while open, else queues (in order). Returns false when dropped: the queue would
   * pass maxQueuedMessages or maxQueuedBytes, or the client is closing/closed.
   * Throws TypeError for data that is not a message.
   */
  send(data: WsBridgeMessage): boolean;
  /** Closes for good (no reconnect); discards the queue. code: 1000 or 3000-4999. */
  close(code?: number, reason?: string): void;
  /** While RECONNECTING: skips the wait and connects now. */
  reconnectNow(): void;
}
