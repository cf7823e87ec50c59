// Test doubles for wsbridge.js: a WebSocket whose server side the test plays by hand, timers
// that only fire when the test advances time, and a scripted random source.

/** Creates a FakeSocket class with its own list of created sockets. */
export function makeFakeWebSocket() {
  class FakeSocket {
    static CONNECTING = 0;
    static OPEN = 1;
    static CLOSING = 2;
    static CLOSED = 3;
    static instances = [];

    constructor(url, protocols) {
      this.url = url;
      this.protocols = protocols;
      this.readyState = FakeSocket.CONNECTING;
      this.binaryType = 'blob';
      this.bufferedAmount = 0;
      this.sent = [];
      this.closeCalls = [];
      this.onopen = this.onmessage = this.onerror = this.onclose = null;
      FakeSocket.instances.push(this);
    }

    /** The URL's token parameter, or null. */
    get token() {
      return new URL(this.url).searchParams.get('token');
    }

    send(data) {
      if (this.readyState !== FakeSocket.OPEN) throw new Error('InvalidStateError: send before open');
      this.sent.push(data);
    }

    close(code, reason) {
      this.closeCalls.push({ code, reason });
      this.readyState = FakeSocket.CLOSING;
    }

    // The server's side.
    serverOpen() {
      this.readyState = FakeSocket.OPEN;
      this.onopen?.({ type: 'open' });
    }
    serverMessage(data) {
      this.onmessage?.({ type: 'message', data });
    }
    serverClose(code, reason = '', wasClean = true) {
      this.readyState = FakeSocket.CLOSED;
      this.onclose?.({ type: 'close', code, reason, wasClean });
    }
    /** A handshake refused or a link lost: error, then close 1006, as browsers report it. */
    fail() {
      this.onerror?.({ type: 'error' });
      this.serverClose(1006, '', false);
    }
  }
  return FakeSocket;
}

/** Timers that run only from advance(); now() is the fake clock in ms. */
export function makeFakeTimers() {
  let now = 0;
  let nextId = 1;
  const pending = new Map(); // id -> {at, fn}
  return {
    setTimeout(fn, ms) {
      const id = nextId++;
      pending.set(id, { at: now + Math.max(0, ms), fn });
      return id;
    },
    clearTimeout(id) {
      pending.delete(id);
    },
    now: () => now,
    pendingDelays: () => [...pending.values()].map((t) => t.at - now),
    advance(ms) {
      const until = now + ms;
      for (;;) {
        let first = null;
        for (const [id, t] of pending) if (t.at <= until && (!first || t.at < first[1].at)) first = [id, t];
        if (!first) break;
        pending.delete(first[0]);
        now = first[1].at;
        first[1].fn();
      }
      now = until;
    },
  };
}

/** Lets pending promise callbacks (an async token function) run. */
export function flushPromises() {
  return new Promise((resolve) => setImmediate(resolve));
}
