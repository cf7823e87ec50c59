// Unit tests of wsbridge.js against a fake socket and hand-driven timers: every reconnect
// decision, the token refresh, the send queue and its bounds, and the message types.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { WsBridgeClient, ConnectionState, DEFAULTS, isFatalCloseCode } from '../wsbridge.js';
import { makeFakeWebSocket, makeFakeTimers, flushPromises } from './fakes.js';

// A client on fakes, recording every callback in order.
function setup(options = {}) {
  const FakeSocket = makeFakeWebSocket();
  const timers = makeFakeTimers();
  const log = [];
  const states = [];
  const client = new WsBridgeClient(options.url ?? 'ws://bridge.test/ws', {
    WebSocket: FakeSocket,
    timers,
    random: () => 0.5,
    onopen: () => log.push(['open']),
    onmessage: (e) => log.push(['message', e.data]),
    onclose: (e) => log.push(['close', e.code, e.willReconnect]),
    onerror: () => log.push(['error']),
    onstatechange: (state) => states.push(state),
    ...options,
  });
  const sockets = FakeSocket.instances;
  return { client, sockets, timers, log, states, last: () => sockets[sockets.length - 1] };
}

test('opens with the token in the URL, asks for ArrayBuffers and reports states', () => {
  const { client, sockets, log, states } = setup({ token: 'a b+c/=', url: 'ws://bridge.test/ws?topics=x' });
  assert.equal(sockets.length, 1);
  const url = new URL(sockets[0].url);
  assert.equal(url.searchParams.get('token'), 'a b+c/=');
  assert.equal(url.searchParams.get('topics'), 'x');
  assert.doesNotMatch(sockets[0].url, /token=a b/); // encoded, not raw
  assert.equal(sockets[0].binaryType, 'arraybuffer');
  assert.equal(client.state, ConnectionState.CONNECTING);
  sockets[0].serverOpen();
  assert.equal(client.state, ConnectionState.OPEN);
  assert.deepEqual(states, ['connecting', 'open']);
  assert.deepEqual(log, [['open']]);
});

test('without a token the URL has no token parameter', () => {
  const { sockets } = setup();
  assert.equal(new URL(sockets[0].url).searchParams.has('token'), false);
});

test('text arrives as a string, binary as an ArrayBuffer with the same bytes', () => {
  const { sockets, log } = setup();
  sockets[0].serverOpen();
  sockets[0].serverMessage('héllo');
  sockets[0].serverMessage(new Uint8Array([1, 2, 255]).buffer);
  // An implementation that hands over a view (node's Buffer) still yields an exact ArrayBuffer.
  const backing = new Uint8Array([9, 9, 7, 8, 9, 9]);
  sockets[0].serverMessage(new Uint8Array(backing.buffer, 2, 2));
  assert.equal(log[1][1], 'héllo');
  assert.ok(log[2][1] instanceof ArrayBuffer);
  assert.deepEqual([...new Uint8Array(log[2][1])], [1, 2, 255]);
  assert.ok(log[3][1] instanceof ArrayBuffer);
  assert.deepEqual([...new Uint8Array(log[3][1])], [7, 8]);
});

test('send() writes at once while open and queues in order while connecting', () => {
  const { client, sockets } = setup();
  assert.equal(client.send('first'), true);
  assert.equal(client.send(new Uint8Array([1, 2])), true);
  assert.equal(client.queuedMessages, 2);
  assert.equal(client.bufferedAmount, 5 + 2);
  assert.deepEqual(sockets[0].sent, []);
  sockets[0].serverOpen();
  assert.equal(client.queuedMessages, 0);
  assert.equal(client.send('third'), true);
  assert.equal(sockets[0].sent.length, 3);
  assert.equal(sockets[0].sent[0], 'first');
  assert.equal(sockets[0].sent[2], 'third');
});

test('messages queued while reconnecting go out on the next socket', () => {
  const { client, sockets, timers } = setup();
  sockets[0].serverOpen();
  sockets[0].serverClose(1006, '', false);
  assert.equal(client.send('while away'), true);
  timers.advance(DEFAULTS.initialDelayMs);
  assert.equal(sockets.length, 2);
  sockets[1].serverOpen();
  assert.deepEqual(sockets[1].sent, ['while away']);
});

test('the send queue is bounded in messages: send() returns false when full', () => {
  const { client, sockets } = setup({ maxQueuedMessages: 2 });
  assert.equal(client.send('a'), true);
  assert.equal(client.send('b'), true);
  assert.equal(client.send('c'), false);
  sockets[0].serverOpen();
  assert.deepEqual(sockets[0].sent, ['a', 'b']);
});

test('the send queue is bounded in UTF-8 bytes', () => {
  const { client } = setup({ maxQueuedBytes: 10 });
  assert.equal(client.send('é'.repeat(4)), true); // 8 bytes, 4 UTF-16 units
  assert.equal(client.send('abc'), false); // 11 > 10
  assert.equal(client.send('ab'), true); // exactly 10
  assert.equal(client.send(new Uint8Array(1)), false);
  assert.equal(client.send('😀'.slice(0, 0)), true); // empty fits
  assert.equal(client.bufferedAmount, 10);
});

test('a message larger than the byte bound is refused even into an empty queue', () => {
  const { client } = setup({ maxQueuedBytes: 3 });
  assert.equal(client.send('😀x'), false); // 4 + 1 bytes
  assert.equal(client.queuedMessages, 0);
});

test('backoff grows exponentially with full jitter and is capped', () => {
  const draws = [];
  let next = 0.999;
  const { sockets, timers } = setup({
    initialDelayMs: 100,
    maxDelayMs: 1000,
    random: () => {
      draws.push(next);
      return next;
    },
  });
  const delays = [];
  for (let i = 0; i < 6; i++) {
    sockets[sockets.length - 1].fail();
    delays.push(timers.pendingDelays()[0]);
    timers.advance(delays[i]);
  }
  // random()*window with random -> 1: the windows themselves.
  assert.deepEqual(delays.map((d) => Math.ceil(d)), [100, 200, 400, 800, 999, 999]);
  // Full jitter: the delay is random()*window, so a draw of 0 reconnects at once.
  next = 0;
  sockets[sockets.length - 1].fail();
  assert.deepEqual(timers.pendingDelays(), [0]);
  assert.equal(sockets.length, 7);
});

test('the backoff starts over after a connection opened', () => {
  const { sockets, timers } = setup({ initialDelayMs: 100, random: () => 0.999 });
  sockets[0].fail();
  timers.advance(100);
  sockets[1].fail();
  assert.equal(Math.round(timers.pendingDelays()[0]), 200);
  timers.advance(200);
  sockets[2].serverOpen();
  sockets[2].serverClose(1011);
  assert.equal(Math.round(timers.pendingDelays()[0]), 100);
});

test('no socket is made before the backoff timer fires', () => {
  const { sockets, timers, client, states } = setup({ initialDelayMs: 1000, random: () => 0.5 });
  sockets[0].serverOpen();
  sockets[0].serverClose(1006, '', false);
  assert.equal(client.state, ConnectionState.RECONNECTING);
  timers.advance(499);
  assert.equal(sockets.length, 1);
  timers.advance(1);
  assert.equal(sockets.length, 2);
  assert.deepEqual(states, ['connecting', 'open', 'reconnecting', 'connecting']);
});

test('the token function is called again before every connection attempt', async () => {
  let calls = 0;
  const { sockets, timers } = setup({ token: () => `t${++calls}` });
  assert.equal(sockets[0].token, 't1');
  sockets[0].serverOpen();
  sockets[0].serverClose(1006, '', false);
  timers.advance(DEFAULTS.initialDelayMs);
  assert.equal(sockets[1].token, 't2');
  sockets[1].fail();
  timers.advance(DEFAULTS.maxDelayMs);
  assert.equal(sockets[2].token, 't3');
  assert.equal(calls, 3);
});

test('an async token function is awaited; a rejection is an error followed by backoff', async () => {
  let calls = 0;
  const { sockets, timers, log, client } = setup({
    token: async () => {
      calls++;
      if (calls === 1) throw new Error('auth server down');
      return `async${calls}`;
    },
  });
  assert.equal(sockets.length, 0);
  await flushPromises();
  assert.equal(sockets.length, 0);
  assert.deepEqual(log, [['error']]);
  assert.equal(client.state, ConnectionState.RECONNECTING);
  timers.advance(DEFAULTS.initialDelayMs);
  await flushPromises();
  assert.equal(sockets.length, 1);
  assert.equal(sockets[0].token, 'async2');
});

test('close() during an async token fetch opens no socket', async () => {
  let resolve;
  const { sockets, client } = setup({ token: () => new Promise((r) => (resolve = r)) });
  client.close();
  assert.equal(client.state, ConnectionState.CLOSED);
  resolve('late');
  await flushPromises();
  assert.equal(sockets.length, 0);
});

for (const code of [1000, 1002, 1003, 1007, 1008, 1009, 4000, 4001, 4099]) {
  test(`close code ${code} from the server means do not come back`, () => {
    const { client, sockets, timers, log } = setup();
    sockets[0].serverOpen();
    client.send('x');
    sockets[0].serverClose(code, 'bye');
    assert.equal(client.state, ConnectionState.CLOSED);
    assert.deepEqual(log.at(-1), ['close', code, false]);
    assert.deepEqual(timers.pendingDelays(), []);
    timers.advance(10 * DEFAULTS.maxDelayMs);
    assert.equal(sockets.length, 1);
    assert.equal(client.send('after'), false);
  });
}

for (const code of [1006, 1011, 1012, 1013, 1014, 3000, 4100, 4999]) {
  test(`close code ${code} reconnects with backoff`, () => {
    const { client, sockets, timers, log } = setup();
    sockets[0].serverOpen();
    sockets[0].serverClose(code);
    assert.equal(client.state, ConnectionState.RECONNECTING);
    assert.deepEqual(log.at(-1), ['close', code, true]);
    timers.advance(DEFAULTS.initialDelayMs);
    assert.equal(sockets.length, 2);
  });
}

test('isFatalCloseCode can be replaced', () => {
  const { client, sockets, timers } = setup({ isFatalCloseCode: (code) => code === 4500 });
  sockets[0].serverOpen();
  sockets[0].serverClose(1008);
  assert.equal(client.state, ConnectionState.RECONNECTING);
  timers.advance(DEFAULTS.initialDelayMs);
  sockets[1].serverOpen();
  sockets[1].serverClose(4500);
  assert.equal(client.state, ConnectionState.CLOSED);
});

test('1001 (server draining) reconnects quickly with jitter and restarts the backoff', () => {
  let r = 0.999;
  const { sockets, timers, log } = setup({ initialDelayMs: 100, drainReconnectMaxMs: 300, random: () => r });
  sockets[0].fail();
  timers.advance(100);
  sockets[1].fail();
  timers.advance(200);
  sockets[2].serverOpen();
  // Drop the backoff to a later step first, to see the drain path reset it.
  sockets[2].serverClose(1006, '', false);
  timers.advance(100);
  sockets[3].fail();
  assert.equal(Math.round(timers.pendingDelays()[0]), 200);
  timers.advance(200);
  sockets[4].serverOpen();
  r = 0.5;
  sockets[4].serverClose(1001, 'draining');
  assert.deepEqual(log.at(-1), ['close', 1001, true]);
  assert.deepEqual(timers.pendingDelays(), [150]); // 0.5 * drainReconnectMaxMs
  timers.advance(150);
  assert.equal(sockets.length, 6);
  r = 0.999;
  sockets[5].fail(); // the draining node refuses; the next wait is the first backoff step
  assert.equal(Math.round(timers.pendingDelays()[0]), 100);
});

test('close() while open closes the socket with the code, fires onclose, never reconnects', () => {
  const { client, sockets, timers, log, states } = setup();
  sockets[0].serverOpen();
  client.close(4000, 'done');
  assert.deepEqual(sockets[0].closeCalls, [{ code: 4000, reason: 'done' }]);
  assert.equal(client.state, ConnectionState.CLOSING);
  assert.equal(client.send('x'), false);
  sockets[0].serverClose(4000, 'done');
  assert.equal(client.state, ConnectionState.CLOSED);
  assert.deepEqual(log.at(-1), ['close', 4000, false]);
  assert.deepEqual(states, ['connecting', 'open', 'closing', 'closed']);
  timers.advance(10 * DEFAULTS.maxDelayMs);
  assert.equal(sockets.length, 1);
});

test('close() while reconnecting cancels the timer', () => {
  const { client, sockets, timers } = setup();
  sockets[0].serverOpen();
  sockets[0].serverClose(1006, '', false);
  client.close();
  assert.equal(client.state, ConnectionState.CLOSED);
  assert.deepEqual(timers.pendingDelays(), []);
  timers.advance(10 * DEFAULTS.maxDelayMs);
  assert.equal(sockets.length, 1);
});

test('close() during the handshake: errors of the aborted socket are not reported', () => {
  const { client, sockets, log } = setup();
  client.close();
  assert.equal(client.state, ConnectionState.CLOSING);
  sockets[0].fail();
  assert.equal(client.state, ConnectionState.CLOSED);
  assert.deepEqual(log, [['close', 1006, false]]);
});

test('close() from a state or close handler stops everything that was about to happen', () => {
  for (const when of ['connecting', 'reconnecting', 'open']) {
    const { client, sockets, timers } = setup({
      onstatechange(state) {
        if (state === when) this.close(); // `this` is the client, even inside its constructor
      },
    });
    if (when !== 'connecting') {
      client.send('queued');
      sockets[0].serverOpen();
      if (when === 'reconnecting') sockets[0].serverClose(1006, '', false);
      if (sockets[0].onclose && client.state === ConnectionState.CLOSING) sockets[0].serverClose(1000);
    }
    timers.advance(10 * DEFAULTS.maxDelayMs);
    assert.equal(client.state, ConnectionState.CLOSED, when);
    assert.equal(sockets.length, when === 'connecting' ? 0 : 1, when);
    if (when === 'open') assert.deepEqual(sockets[0].sent, [], 'the queue was discarded by close()');
  }
  const { client, sockets, timers } = setup({
    onclose() {
      this.close();
    },
  });
  sockets[0].fail();
  timers.advance(10 * DEFAULTS.maxDelayMs);
  assert.equal(client.state, ConnectionState.CLOSED);
  assert.equal(sockets.length, 1);
});

test('maxReconnectAttempts stops after that many failed attempts in a row', () => {
  const { client, sockets, timers, log } = setup({ maxReconnectAttempts: 3 });
  sockets[0].serverOpen();
  sockets[0].serverClose(1006, '', false);
  for (let i = 1; i <= 3; i++) {
    timers.advance(DEFAULTS.maxDelayMs);
    assert.equal(sockets.length, i + 1);
    sockets[i].fail();
  }
  assert.equal(client.state, ConnectionState.CLOSED);
  assert.deepEqual(log.at(-1), ['close', 1006, false]);
  timers.advance(10 * DEFAULTS.maxDelayMs);
  assert.equal(sockets.length, 4);
});

test('reconnect: false makes the first drop final', () => {
  const { client, sockets } = setup({ reconnect: false });
  sockets[0].serverOpen();
  sockets[0].serverClose(1011);
  assert.equal(client.state, ConnectionState.CLOSED);
});

test('reconnectNow() skips the wait', () => {
  const { client, sockets, timers } = setup({ initialDelayMs: 10000 });
  sockets[0].fail();
  client.reconnectNow();
  assert.equal(sockets.length, 2);
  assert.deepEqual(timers.pendingDelays(), []);
});

test('events of a replaced socket are ignored', () => {
  const { client, sockets, timers, log } = setup();
  sockets[0].serverOpen();
  const old = sockets[0];
  old.serverClose(1006, '', false);
  timers.advance(DEFAULTS.initialDelayMs);
  const before = log.length;
  old.serverMessage('stale');
  old.serverClose(1008);
  assert.equal(log.length, before);
  assert.equal(client.state, ConnectionState.CONNECTING);
});

test('a throwing handler does not break the client', () => {
  const reported = [];
  const saved = globalThis.reportError;
  globalThis.reportError = (e) => reported.push(e);
  try {
    const { client, sockets } = setup({
      onopen: () => {
        throw new Error('app bug');
      },
    });
    client.send('queued');
    sockets[0].serverOpen();
    assert.equal(client.state, ConnectionState.OPEN);
    assert.deepEqual(sockets[0].sent, ['queued']);
    assert.equal(reported.length, 1);
  } finally {
    globalThis.reportError = saved;
  }
});

test('options are checked', () => {
  const FakeSocket = makeFakeWebSocket();
  assert.throws(() => new WsBridgeClient('ws://x/ws', { WebSocket: FakeSocket, token: 42 }), TypeError);
  assert.throws(() => new WsBridgeClient('ws://x/ws', { WebSocket: FakeSocket, multiplier: 0.5 }), RangeError);
  assert.throws(() => new WsBridgeClient('ws://x/ws', { WebSocket: FakeSocket, maxQueuedBytes: -1 }), RangeError);
  assert.throws(() => new WsBridgeClient('ws://x/ws', { WebSocket: 'nope' }), TypeError);
  assert.throws(() => new WsBridgeClient('not a url', { WebSocket: FakeSocket }), TypeError);
});

test('send() rejects what is not a message', () => {
  const { client } = setup();
  assert.throws(() => client.send(42), TypeError);
  assert.throws(() => client.send({}), TypeError);
});

test('isFatalCloseCode lists the documented codes', () => {
  const fatal = [];
  for (let code = 1000; code < 5000; code++) if (isFatalCloseCode(code)) fatal.push(code);
  assert.deepEqual(fatal.filter((c) => c < 4000), [1000, 1002, 1003, 1007, 1008, 1009]);
  assert.equal(fatal.filter((c) => c >= 4000).length, 100);
  assert.equal(Math.min(...fatal.filter((c) => c >= 4000)), 4000);
  assert.equal(Math.max(...fatal), 4099);
});
