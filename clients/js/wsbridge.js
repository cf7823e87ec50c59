// wsbridge.js: the browser client for wsbridge, one dependency-free ES module.
//
// WsBridgeClient wraps one WebSocket at a time and replaces it when it drops: it asks for a
// token before every connection attempt (so an expired token is refreshed on reconnect), waits
// with exponential backoff and full jitter between attempts, reconnects almost at once (still
// jittered) when the server drains (1001), and stops for good on close codes that say "do not
// come back" (see isFatalCloseCode). Messages sent while no socket is open wait in a send queue
// bounded in messages and bytes. Text arrives as a string, binary as an ArrayBuffer.
//
// Threading: browsers and node run it on one event loop; nothing here is shared across workers.
// Everything that touches the outside world (the WebSocket constructor, timers, randomness) is
// an option, so tests drive time by hand against a fake socket.
//
// The client's life is one state (ConnectionState), one transition per event:
//
//   connecting --socket open--------------------------------> open
//   connecting, open --link lost or reconnectable code--------> reconnecting --timer--> connecting
//   connecting, open --"do not come back" code, attempts used up--> closed
//   any but closed --close()--> closing (a socket exists) --socket closed--> closed
//                               closed  (no socket: token pending or waiting for the timer)

/** The client's connection states, in the order a connection lives through them. */
export const ConnectionState = Object.freeze({
  /** A connection attempt is under way: fetching the token or in the WebSocket handshake. */
  CONNECTING: 'connecting',
  /** The socket is open; send() writes straight to it. */
  OPEN: 'open',
  /** The socket dropped; a timer runs until the next attempt. send() queues. */
  RECONNECTING: 'reconnecting',
  /** close() was called while a socket existed; waiting for it to finish closing. */
  CLOSING: 'closing',
  /** Terminal: close() was called, a "do not come back" code arrived, or attempts ran out. */
  CLOSED: 'closed',
});

/** Defaults of every option, also documented in README.md and wsbridge.d.ts. */
export const DEFAULTS = Object.freeze({
  reconnect: true,
  initialDelayMs: 500,
  maxDelayMs: 30000,
  multiplier: 2,
  drainReconnectMaxMs: 1000,
  maxReconnectAttempts: Infinity,
  maxQueuedMessages: 100,
  maxQueuedBytes: 1024 * 1024,
});

/**
 * Whether a close code from the server means "do not come back", so reconnecting would only
 * repeat the refusal or undo a deliberate disconnect:
 *  - 1000 normal closure: the bridge sends it only for a Disconnect RPC (its default code), i.e.
 *    a service chose to end this session (logout, kicked); reconnecting would undo that.
 *  - 1002 protocol error, 1003 unsupported data, 1007 invalid payload (bad UTF-8),
 *    1009 message too big: this client broke the protocol or a limit; a new connection would
 *    meet the same fault, and the application should see it rather than loop.
 *  - 1008 policy violation: rate limited or refused by policy; coming back makes it worse.
 *  - 4000-4099: reserved by wsbridge for applications' "do not come back" (Disconnect with
 *    such a code: account banned, session replaced, token revoked).
 * Every other code reconnects with backoff: 1006 (connection lost or handshake refused:
 * 401/429/503 look alike in browsers), 1011 internal, 1012 restart, 1013 slow consumer / try
 * again later, 1014, 3000-3999, 4100-4999. 1001 (going away: the server drains) reconnects
 * quickly. A service that wants a client to reconnect (e.g. to pick up a new token) uses 1012
 * or a code in 4100-4999.
 * @param {number} code
 * @returns {boolean}
 */
export function isFatalCloseCode(code) {
  return (
    code === 1000 ||
    code === 1002 ||
    code === 1003 ||
    code === 1007 ||
    code === 1008 ||
    code === 1009 ||
    (code >= 4000 && code <= 4099)
  );
}

// Bytes a message occupies on the wire (UTF-8 for strings), for the send queue's byte bound.
function messageBytes(data) {
  if (typeof data === 'string') {
    let bytes = 0;
    for (let i = 0; i < data.length; i++) {
      const c = data.charCodeAt(i);
      if (c < 0x80) bytes += 1;
      else if (c < 0x800) bytes += 2;
      else if (c >= 0xd800 && c <= 0xdbff && i + 1 < data.length) {
        bytes += 4; // a surrogate pair is one 4-byte code point
        i++;
      } else bytes += 3;
    }
    return bytes;
  }
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength;
  if (typeof Blob !== 'undefined' && data instanceof Blob) return data.size;
  throw new TypeError('send() takes a string, an ArrayBuffer, a typed array/DataView or a Blob');
}

// Binary frames always reach the application as an ArrayBuffer, whatever the WebSocket
// implementation hands over (node's `ws` may give a Buffer if binaryType is not honoured).
function toArrayBuffer(data) {
  if (data instanceof ArrayBuffer) return data;
  if (ArrayBuffer.isView(data)) {
    return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  }
  return data;
}

function requireNumber(name, value, min) {
  if (typeof value !== 'number' || Number.isNaN(value) || value < min) {
    throw new RangeError(`wsbridge: option ${name} must be a number >= ${min}, got ${value}`);
  }
  return value;
}

/** A WebSocket that reconnects, refreshes its token and queues sends while it is away. */
export class WsBridgeClient {
  // Options, resolved once.
  #url;
  #token;
  #protocols;
  #WebSocket;
  #setTimeout;
  #clearTimeout;
  #random;
  #reconnect;
  #initialDelayMs;
  #maxDelayMs;
  #multiplier;
  #drainReconnectMaxMs;
  #maxReconnectAttempts;
  #maxQueuedMessages;
  #maxQueuedBytes;
  #isFatal;

  #state = ConnectionState.CLOSED; // until the constructor starts the first attempt
  #socket = null; // the current socket, or null between attempts
  #timer = null; // the pending reconnect timer
  #attempt = 0; // attempts since the last open (1 = the first attempt)
  #backoffStep = 0; // exponent of the next backoff window
  #generation = 0; // bumps on every attempt and on close(), so stale token answers are ignored
  #queue = []; // {data, bytes} waiting for an open socket
  #queuedBytes = 0;

  /** Property handlers, shaped like the native WebSocket's. */
  onopen = null;
  onmessage = null;
  onclose = null;
  onerror = null;
  /** Called with (state, previousState, info) on every state change. */
  onstatechange = null;

  /**
   * @param {string|URL} url ws:// or wss:// URL of the bridge's WebSocket path, e.g.
   *   "wss://host/ws". Extra query parameters (topics=...) are kept.
   * @param {object} [options] see wsbridge.d.ts / README.md for every option and its default.
   */
  constructor(url, options = {}) {
    this.#url = new URL(String(url));
    const token = options.token;
    if (token !== undefined && token !== null && typeof token !== 'string' && typeof token !== 'function') {
      throw new TypeError('wsbridge: option token must be a string or a function returning one');
    }
    this.#token = token ?? null;
    this.#protocols = options.protocols;
    this.#WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this.#WebSocket !== 'function') {
      throw new TypeError('wsbridge: no WebSocket constructor (pass options.WebSocket, e.g. the `ws` package in node)');
    }
    const timers = options.timers ?? globalThis;
    this.#setTimeout = timers.setTimeout.bind(timers);
    this.#clearTimeout = timers.clearTimeout.bind(timers);
    this.#random = options.random ?? Math.random;
    this.#reconnect = options.reconnect ?? DEFAULTS.reconnect;
    this.#initialDelayMs = requireNumber('initialDelayMs', options.initialDelayMs ?? DEFAULTS.initialDelayMs, 0);
    this.#maxDelayMs = requireNumber('maxDelayMs', options.maxDelayMs ?? DEFAULTS.maxDelayMs, 0);
    this.#multiplier = requireNumber('multiplier', options.multiplier ?? DEFAULTS.multiplier, 1);
    this.#drainReconnectMaxMs = requireNumber(
      'drainReconnectMaxMs', options.drainReconnectMaxMs ?? DEFAULTS.drainReconnectMaxMs, 0);
    this.#maxReconnectAttempts = requireNumber(
      'maxReconnectAttempts', options.maxReconnectAttempts ?? DEFAULTS.maxReconnectAttempts, 0);
    this.#maxQueuedMessages = requireNumber(
      'maxQueuedMessages', options.maxQueuedMessages ?? DEFAULTS.maxQueuedMessages, 0);
    this.#maxQueuedBytes = requireNumber('maxQueuedBytes', options.maxQueuedBytes ?? DEFAULTS.maxQueuedBytes, 0);
    this.#isFatal = options.isFatalCloseCode ?? isFatalCloseCode;
    for (const name of ['onopen', 'onmessage', 'onclose', 'onerror', 'onstatechange']) {
      if (options[name]) this[name] = options[name];
    }
    this.#startAttempt();
  }

  /** The current ConnectionState value. */
  get state() {
    return this.#state;
  }

  /** Attempts since the socket was last open (0 while open). */
  get attempt() {
    return this.#state === ConnectionState.OPEN ? 0 : this.#attempt;
  }

  /** Bytes waiting: in the client's queue plus the open socket's own buffer. */
  get bufferedAmount() {
    return this.#queuedBytes + (this.#socket?.bufferedAmount ?? 0);
  }

  /** Messages waiting in the client's queue for a socket to open. */
  get queuedMessages() {
    return this.#queue.length;
  }

  /**
   * Sends a text (string) or binary (ArrayBuffer, view, Blob) message. While the socket is open
   * it goes straight out; while connecting or reconnecting it waits in the queue, sent in order
   * as soon as a socket opens.
   * @returns {boolean} true when sent or queued; false when dropped because the queue is full
   *   (maxQueuedMessages or maxQueuedBytes would be passed) or the client is closing/closed.
   *   A full queue is an expected condition during an outage, so it is not an exception.
   */
  send(data) {
    const bytes = messageBytes(data);
    if (this.#state === ConnectionState.CLOSING || this.#state === ConnectionState.CLOSED) return false;
    if (this.#state === ConnectionState.OPEN && this.#queue.length === 0) {
      this.#socket.send(data);
      return true;
    }
    if (this.#queue.length + 1 > this.#maxQueuedMessages || this.#queuedBytes + bytes > this.#maxQueuedBytes) {
      return false;
    }
    this.#queue.push({ data, bytes });
    this.#queuedBytes += bytes;
    return true;
  }

  /**
   * Closes for good: no reconnect follows. Code and reason go to the server as the native
   * close() sends them (1000 or 3000-4999; reason up to 123 bytes). Queued messages are
   * discarded. onclose fires once the socket has closed (or at once if there was none open).
   */
  close(code = 1000, reason = '') {
    if (this.#state === ConnectionState.CLOSING || this.#state === ConnectionState.CLOSED) return;
    this.#generation++;
    this.#cancelTimer();
    this.#dropQueue();
    const socket = this.#socket;
    if (socket) {
      this.#setState(ConnectionState.CLOSING);
      socket.close(code, reason);
    } else {
      this.#setState(ConnectionState.CLOSED);
    }
  }

  /**
   * Ends a wait between attempts and connects now (e.g. on the browser's "online" event).
   * Does nothing unless the state is RECONNECTING.
   */
  reconnectNow() {
    if (this.#state !== ConnectionState.RECONNECTING) return;
    this.#cancelTimer();
    this.#startAttempt();
  }

  // Attempts one connection: token first (maybe async), then the socket.
  #startAttempt() {
    this.#attempt++;
    this.#setState(ConnectionState.CONNECTING, { attempt: this.#attempt });
    if (this.#state !== ConnectionState.CONNECTING) return; // the state handler called close()
    const generation = ++this.#generation;
    let token;
    try {
      token = typeof this.#token === 'function' ? this.#token() : this.#token;
    } catch (error) {
      this.#tokenFailed(error);
      return;
    }
    if (token && typeof token.then === 'function') {
      token.then(
        (value) => {
          if (generation === this.#generation) this.#openSocket(value);
        },
        (error) => {
          if (generation === this.#generation) this.#tokenFailed(error);
        },
      );
    } else {
      this.#openSocket(token);
    }
  }

  #tokenFailed(error) {
    this.#emit('onerror', { type: 'error', error, message: `wsbridge: token function failed: ${error}` });
    this.#scheduleReconnect(null);
  }

  #openSocket(token) {
    const url = new URL(this.#url);
    if (token !== undefined && token !== null && token !== '') {
      url.searchParams.set('token', String(token));
    }
    let socket;
    try {
      socket = this.#protocols === undefined
        ? new this.#WebSocket(url.toString())
        : new this.#WebSocket(url.toString(), this.#protocols);
    } catch (error) {
      // A malformed URL or a refused scheme throws synchronously; it would throw again.
      this.#emit('onerror', { type: 'error', error, message: String(error) });
      this.#finish({ type: 'close', code: 1006, reason: String(error), wasClean: false }, false);
      return;
    }
    socket.binaryType = 'arraybuffer';
    this.#socket = socket;
    socket.onopen = () => {
      if (socket !== this.#socket || this.#state !== ConnectionState.CONNECTING) return;
      this.#attempt = 0;
      this.#backoffStep = 0;
      this.#setState(ConnectionState.OPEN);
      if (this.#state !== ConnectionState.OPEN) return; // the state handler called close()
      this.#flushQueue();
      this.#emit('onopen', { type: 'open' });
    };
    socket.onmessage = (event) => {
      if (socket !== this.#socket) return;
      const data = typeof event.data === 'string' ? event.data : toArrayBuffer(event.data);
      this.#emit('onmessage', { type: 'message', data });
    };
    socket.onerror = (event) => {
      if (socket !== this.#socket || this.#state === ConnectionState.CLOSING) return;
      this.#emit('onerror', { type: 'error', error: event?.error, message: event?.message ?? 'WebSocket error' });
    };
    socket.onclose = (event) => {
      if (socket !== this.#socket) return;
      this.#socket = null;
      const code = event?.code ?? 1006;
      const closeEvent = { type: 'close', code, reason: event?.reason ?? '', wasClean: !!event?.wasClean };
      if (this.#state === ConnectionState.CLOSING) {
        this.#finish(closeEvent, true);
      } else {
        this.#scheduleReconnect(closeEvent);
      }
    };
  }

  #flushQueue() {
    const queue = this.#queue;
    this.#queue = [];
    this.#queuedBytes = 0;
    for (const { data } of queue) this.#socket.send(data);
  }

  #dropQueue() {
    this.#queue = [];
    this.#queuedBytes = 0;
  }

  // Decides what follows a lost socket (closeEvent) or a failed token fetch (null).
  #scheduleReconnect(closeEvent) {
    const code = closeEvent?.code;
    const fatal = closeEvent !== null && this.#isFatal(code);
    if (!this.#reconnect || fatal || this.#attempt >= this.#maxReconnectAttempts) {
      this.#finish(closeEvent, false);
      return;
    }
    let delayMs;
    if (code === 1001) {
      // The server drains: another node (or this one restarted) takes us at once. Jitter
      // spreads the herd of sessions it closed; the backoff starts over for later failures.
      delayMs = this.#random() * this.#drainReconnectMaxMs;
      this.#backoffStep = 0;
    } else {
      const window = Math.min(this.#maxDelayMs, this.#initialDelayMs * this.#multiplier ** this.#backoffStep);
      this.#backoffStep++;
      delayMs = this.#random() * window; // full jitter: uniform in [0, window)
    }
    // The timer exists before any handler runs, so a close() from a handler cancels it.
    this.#timer = this.#setTimeout(() => {
      this.#timer = null;
      this.#startAttempt();
    }, delayMs);
    this.#setState(ConnectionState.RECONNECTING, { attempt: this.#attempt, delayMs, code });
    if (closeEvent) this.#emit('onclose', { ...closeEvent, willReconnect: true, delayMs });
  }

  // Terminal: no more attempts.
  #finish(closeEvent, byClient) {
    this.#cancelTimer();
    this.#dropQueue();
    this.#setState(ConnectionState.CLOSED, closeEvent ? { code: closeEvent.code } : {});
    if (closeEvent) this.#emit('onclose', { ...closeEvent, willReconnect: false, byClient });
  }

  #cancelTimer() {
    if (this.#timer !== null) {
      this.#clearTimeout(this.#timer);
      this.#timer = null;
    }
  }

  #setState(state, info = {}) {
    const previous = this.#state;
    this.#state = state;
    if (previous !== state) {
      this.#emit('onstatechange', state, previous, info);
    }
  }

  // A handler that throws must not break the client's own bookkeeping; report it like the
  // browser reports an exception in an event handler, without unwinding into our state machine.
  #emit(name, ...args) {
    const handler = this[name];
    if (typeof handler !== 'function') return;
    try {
      handler.apply(this, args);
    } catch (error) {
      if (typeof globalThis.reportError === 'function') globalThis.reportError(error);
      else this.#setTimeout(() => { throw error; }, 0);
    }
  }
}
