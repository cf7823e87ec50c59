// wsbridge.js against the real wsbridge binary (path in WSBRIDGE_BINARY), with node's `ws`
// package as the WebSocket and the gRPC API (@grpc/grpc-js) playing the backend service.
// Each test starts its own bridge on free ports and stops it by PID.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';

import { WsBridgeClient, ConnectionState } from '../wsbridge.js';
import { BridgeProcess, signToken, eventually } from './bridge_process.js';
import { bridgeApi } from './bridge_api.js';

const binary = process.env.WSBRIDGE_BINARY;
const skip = binary ? false : 'WSBRIDGE_BINARY is not set: point it at a built wsbridge executable to run these';

// A client for a fresh user, recording what it sees. tokenCalls counts token requests.
function connect(bridge, options = {}) {
  const user = `js-${randomUUID()}`;
  const seen = { states: [], messages: [], closes: [], errors: 0, opens: 0, tokenCalls: 0 };
  const client = new WsBridgeClient(bridge.wsUrl, {
    WebSocket,
    token: () => {
      seen.tokenCalls++;
      return signToken(user);
    },
    onstatechange: (state) => seen.states.push(state),
    onopen: () => seen.opens++,
    onmessage: (e) => seen.messages.push(e.data),
    onclose: (e) => seen.closes.push(e),
    onerror: () => seen.errors++,
    ...options,
  });
  return { client, user, seen };
}

// Runs `body` with a started bridge and its API; always stops both.
async function withBridge(body, startOptions) {
  let bridge = await BridgeProcess.start(binary, startOptions);
  const apis = [];
  const ctx = {
    get bridge() {
      return bridge;
    },
    api: () => {
      const api = bridgeApi(bridge.grpcPort);
      apis.push(api);
      return api;
    },
    replaceBridge: (b) => (bridge = b),
    clients: [],
  };
  try {
    await body(ctx);
  } catch (error) {
    error.message += `\n--- wsbridge output ---\n${bridge.output}`;
    throw error;
  } finally {
    for (const c of ctx.clients) c.close();
    for (const api of apis) api.close();
    await bridge.stop('SIGKILL');
  }
}

async function sessionsOf(api, user) {
  return (await api.listSessions({ userId: user })).sessions;
}

test('opens, reports states, receives text as a string and binary as an ArrayBuffer', { skip }, () =>
  withBridge(async (ctx) => {
    const api = ctx.api();
    const { client, user, seen } = connect(ctx.bridge);
    ctx.clients.push(client);
    await eventually(() => client.state === ConnectionState.OPEN, 'the client to open');
    assert.deepEqual(seen.states, ['connecting', 'open']);
    assert.equal(seen.opens, 1);
    await eventually(async () => (await sessionsOf(api, user)).length === 1, 'the session to be listed');

    const text = await api.push({ userIds: [user], message: { text: 'héllo from the service' } });
    assert.equal(text.queued, 1);
    const bytes = Buffer.from([0, 1, 2, 250, 255, 0x80]);
    await api.push({ userIds: [user], message: { binary: bytes } });
    await eventually(() => seen.messages.length === 2, 'both pushes to arrive');
    assert.equal(seen.messages[0], 'héllo from the service');
    assert.ok(seen.messages[1] instanceof ArrayBuffer, 'binary arrives as an ArrayBuffer');
    assert.deepEqual([...new Uint8Array(seen.messages[1])], [...bytes]);
  }));

test('send() reaches the bridge and the session stays open', { skip }, () =>
  withBridge(async (ctx) => {
    const api = ctx.api();
    const { client, user, seen } = connect(ctx.bridge);
    ctx.clients.push(client);
    assert.equal(client.send('queued before open'), true);
    await eventually(() => client.state === ConnectionState.OPEN, 'the client to open');
    assert.equal(client.send('sent while open'), true);
    assert.equal(client.send(new Uint8Array([1, 2, 3])), true);
    const stats = await eventually(async () => {
      const [s] = await sessionsOf(api, user);
      return s && s.stats.messagesReceived >= 3 ? s.stats : null;
    }, 'the bridge to count three received messages');
    assert.equal(stats.messagesReceived, 3);
    assert.equal(client.state, ConnectionState.OPEN);
    assert.equal(seen.closes.length, 0);
  }));

test('after a reconnectable Disconnect the token function is called again and the client comes back', { skip }, () =>
  withBridge(async (ctx) => {
    const api = ctx.api();
    const { client, user, seen } = connect(ctx.bridge, { initialDelayMs: 50 });
    ctx.clients.push(client);
    await eventually(() => client.state === ConnectionState.OPEN, 'the client to open');
    assert.equal(seen.tokenCalls, 1);
    const [first] = await eventually(async () => {
      const s = await sessionsOf(api, user);
      return s.length === 1 ? s : null;
    }, 'the first session');
    await api.disconnect({ userIds: [user], code: 4100, reason: 'come back' });
    await eventually(() => seen.opens === 2, 'the client to reopen');
    assert.equal(seen.tokenCalls, 2);
    assert.equal(seen.closes[0].code, 4100);
    assert.equal(seen.closes[0].willReconnect, true);
    const [second] = await eventually(async () => {
      const s = await sessionsOf(api, user);
      return s.length === 1 && s[0].sessionId !== first.sessionId ? s : null;
    }, 'a new session for the same user');
    assert.notEqual(second.sessionId, first.sessionId);
  }));

// Waits until the client is closed for good, then gives a reconnecting client (10-20 ms backoff)
// ample time to show itself, and checks it did not.
async function expectNoReconnect(api, client, user, seen, code) {
  await eventually(() => client.state === ConnectionState.CLOSED, 'the client to close');
  assert.equal(seen.closes.length, 1);
  assert.equal(seen.closes[0].code, code);
  assert.equal(seen.closes[0].willReconnect, false);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(seen.tokenCalls, 1);
  assert.deepEqual(await sessionsOf(api, user), []);
  assert.deepEqual(seen.states, ['connecting', 'open', 'closed']);
}

for (const code of [4001, 4099, 1000]) {
  test(`a Disconnect with ${code} ends the client: no reconnect`, { skip }, () =>
    withBridge(async (ctx) => {
      const api = ctx.api();
      const { client, user, seen } = connect(ctx.bridge, { initialDelayMs: 10, maxDelayMs: 20 });
      ctx.clients.push(client);
      await eventually(() => client.state === ConnectionState.OPEN, 'the client to open');
      await eventually(async () => (await sessionsOf(api, user)).length === 1, 'the session to be listed');
      await api.disconnect({ userIds: [user], code, reason: 'do not come back' });
      await expectNoReconnect(api, client, user, seen, code);
    }));
}

// 1008 is not a code a service may give Disconnect; the bridge sends it itself when a browser
// passes its inbound message rate.
test('rate limited by the bridge (1008): no reconnect', { skip }, () =>
  withBridge(
    async (ctx) => {
      const api = ctx.api();
      const { client, user, seen } = connect(ctx.bridge, { initialDelayMs: 10, maxDelayMs: 20 });
      ctx.clients.push(client);
      await eventually(() => client.state === ConnectionState.OPEN, 'the client to open');
      await eventually(async () => (await sessionsOf(api, user)).length === 1, 'the session to be listed');
      for (let i = 0; i < 20 && client.state === ConnectionState.OPEN; i++) client.send(`flood ${i}`);
      await expectNoReconnect(api, client, user, seen, 1008);
    },
    { extraArgs: ['--client_messages_per_second=1', '--client_messages_burst=2'] },
  ));

test('the bridge killed and started again on the same port: reconnect with backoff', { skip }, () =>
  withBridge(async (ctx) => {
    const { client, user, seen } = connect(ctx.bridge, { initialDelayMs: 100, maxDelayMs: 400 });
    ctx.clients.push(client);
    await eventually(() => client.state === ConnectionState.OPEN, 'the client to open');
    const wsPort = ctx.bridge.wsPort;
    const { signal } = await ctx.bridge.stop('SIGKILL');
    assert.equal(signal, 'SIGKILL');
    await eventually(
      () => seen.closes.length >= 1,
      () => `the client to see the link die (state ${client.state}, ${seen.opens} opens, ${seen.closes.length} closes)`,
    );
    assert.equal(seen.closes[0].code, 1006);
    assert.equal(seen.closes[0].willReconnect, true);
    // While the bridge is down attempts fail and the client keeps waiting between them.
    await eventually(() => seen.tokenCalls >= 4, 'a few failed attempts while the bridge is down');
    assert.equal(seen.opens, 1);
    assert.ok(seen.states.includes('reconnecting'));
    assert.notEqual(client.state, ConnectionState.CLOSED);

    ctx.replaceBridge(await BridgeProcess.start(binary, { wsPort }));
    assert.equal(ctx.bridge.wsPort, wsPort);
    await eventually(() => client.state === ConnectionState.OPEN, 'the client to reconnect to the new bridge');
    assert.equal(seen.opens, 2);
    const api = ctx.api();
    await eventually(async () => (await sessionsOf(api, user)).length === 1, 'the session on the new bridge');
    await api.push({ userIds: [user], message: { text: 'welcome back' } });
    await eventually(() => seen.messages.includes('welcome back'), 'a push on the new connection');
  }));

test('SIGTERM (drain, 1001): a quick reconnect attempt despite a long backoff', { skip }, () =>
  withBridge(async (ctx) => {
    // A minute of backoff: only the drain path can make the next attempt come quickly.
    const { client, seen } = connect(ctx.bridge, {
      initialDelayMs: 60000,
      maxDelayMs: 60000,
      drainReconnectMaxMs: 200,
    });
    ctx.clients.push(client);
    await eventually(() => client.state === ConnectionState.OPEN, 'the client to open');
    const stopped = ctx.bridge.stop('SIGTERM');
    // >= : the quick attempt that follows may already have failed when this looks.
    await eventually(() => seen.closes.length >= 1, 'the draining bridge to close the session');
    assert.equal(seen.closes[0].code, 1001);
    assert.equal(seen.closes[0].willReconnect, true);
    assert.ok(seen.closes[0].delayMs <= 200, `drain delay ${seen.closes[0].delayMs} is within drainReconnectMaxMs`);
    await eventually(() => seen.tokenCalls >= 2, 'a reconnect attempt after the drain');
    const { code } = await stopped;
    assert.equal(code, 0);
    // The bridge is gone, so that attempt fails and the long backoff now applies.
    await eventually(() => client.state === ConnectionState.RECONNECTING && seen.closes.length >= 2, 'the failed attempt');
    assert.equal(seen.closes[1].willReconnect, true);
    assert.ok(seen.closes[1].delayMs <= 60000);
  }));
