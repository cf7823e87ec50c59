// The demo page (clients/web) on the browser client (clients/js) in a real headless Chromium: Debian's /usr/bin/chromium driven by
// npm's playwright-core (which never downloads a browser). Each test starts its own wsbridge
// (WSBRIDGE_BINARY) on free loopback ports serving this folder with --static_dir, plays the
// backend with the bridgectl CLI (BRIDGECTL_BINARY) exactly as a user would, and stops the bridge
// by PID. A screenshot of the demo page is saved to WSBRIDGE_ARTIFACTS_DIR (default
// build/artifacts) as demo-page.png, and one per failed test as failure-*.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

import { chromium } from 'playwright-core';

import { BridgeProcess, signToken, eventually } from '../../clients/js/test/bridge_process.js';
import { WireTap } from './wire_tap.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const webDir = path.join(repo, 'clients', 'web');
const wsbridgeBinary = process.env.WSBRIDGE_BINARY;
const bridgectlBinary = process.env.BRIDGECTL_BINARY;
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const artifacts = process.env.WSBRIDGE_ARTIFACTS_DIR || path.join(repo, 'build', 'artifacts');
const API_KEY = 'web-demo-test-key';

// Missing parts fail loudly rather than skip: CI installs Chromium (.ci/install-deps.sh) and
// CTest passes both binaries, so a skip here would only hide a broken setup.
for (const [what, value] of [['WSBRIDGE_BINARY', wsbridgeBinary], ['BRIDGECTL_BINARY', bridgectlBinary]]) {
  if (!value || !existsSync(value)) throw new Error(`${what} must name a built executable (got ${value})`);
}
if (!existsSync(chromiumPath)) {
  throw new Error(`${chromiumPath} not found: install Debian's chromium (.ci/install-deps.sh does)`);
}

let browser;
before(async () => {
  mkdirSync(artifacts, { recursive: true });
  browser = await chromium.launch({ executablePath: chromiumPath, headless: true, timeout: 120000 });
});
after(async () => {
  await browser?.close();
});

// --- The backend side: a bridge, bridgectl, the Events stream --------------------------------

async function startBridge({ wsPort = 0 } = {}) {
  return BridgeProcess.start(wsbridgeBinary, {
    wsPort,
    extraArgs: [`--static_dir=${webDir}`, '--public_topics=prices', '--allow_anonymous', `--api_key=${API_KEY}`],
  });
}

/** Runs `bridgectl --target=... ARGS...` with the API key; resolves with its stdout as JSON. */
function bridgectl(bridge, ...args) {
  return new Promise((resolve, reject) => {
    execFile(bridgectlBinary, [`--target=127.0.0.1:${bridge.grpcPort}`, ...args],
      { env: { ...process.env, WSBRIDGE_API_KEY: API_KEY } },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`bridgectl ${args.join(' ')}: ${stderr.trim() || error.message}`));
        resolve(stdout.trim() ? JSON.parse(stdout) : null);
      });
  });
}

/**
 * `bridgectl events`: the live Events stream as parsed JSON lines. It sees only what happens after
 * it subscribed, so await ready() (the bridge counts the stream in /metrics) before acting.
 */
class EventsTail {
  constructor(bridge) {
    this.bridge = bridge;
    this.events = [];
    this.stderr = '';
    this.child = spawn(bridgectlBinary, [`--target=127.0.0.1:${bridge.grpcPort}`, 'events'],
      { env: { ...process.env, WSBRIDGE_API_KEY: API_KEY }, stdio: ['ignore', 'pipe', 'pipe'] });
    createInterface({ input: this.child.stdout }).on('line', (line) => this.events.push(JSON.parse(line)));
    this.child.stderr.on('data', (chunk) => (this.stderr += chunk));
  }

  of(user, kind) {
    return this.events.filter((e) => e.userId === user && kind in e);
  }

  async waitFor(user, kind, count = 1) {
    return eventually(() => this.of(user, kind).length >= count && this.of(user, kind),
      () => `${count} ${kind} event(s) of ${user}; events so far: ${JSON.stringify(this.events)} ${this.stderr}`);
  }

  async ready() {
    const streams = async () => {
      const text = await (await fetch(`http://127.0.0.1:${this.bridge.adminPort}/metrics`)).text();
      return Number(/^wsbridge_events_streams (\d+)/m.exec(text)?.[1] ?? 0);
    };
    await eventually(async () => (await streams()) >= 1, () => `the Events stream to be open ${this.stderr}`);
  }

  stop() {
    this.child.kill('SIGINT');
  }
}

// --- The browser side ------------------------------------------------------------------------

/**
 * Opens the demo page served by the bridge (or by `origin`, e.g. a WireTap in front of it),
 * signed in as `user`, and waits for the connection badge to say "open". Records every
 * WebSocket Chromium creates, every response, console errors and uncaught page errors.
 */
async function openDemo(origin, user) {
  const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
  const seen = { sockets: [], responses: [], problems: [] };
  page.on('websocket', (ws) => seen.sockets.push(ws.url()));
  page.on('response', (r) => seen.responses.push(r));
  page.on('pageerror', (e) => seen.problems.push(`page error: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && seen.problems.push(`console: ${m.text()}`));
  // The 101's headers, which page scripts cannot read.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  seen.handshakes = [];
  cdp.on('Network.webSocketHandshakeResponseReceived', (e) => seen.handshakes.push(e.response));
  await page.goto(`${origin}/?token=${encodeURIComponent(signToken(user))}`);
  await page.waitForSelector('#state[data-state="open"]');
  return { page, seen };
}

const badge = (page) => page.getAttribute('#state', 'data-state');

// Runs `body` with a fresh bridge, an Events tail and a user name; on failure adds what the
// bridge printed and a screenshot of every open page; always stops everything.
async function scenario(name, body) {
  const ctx = { bridge: await startBridge(), pages: [], user: `web-${name}-${Date.now()}` };
  ctx.events = new EventsTail(ctx.bridge);
  ctx.open = async (origin = `http://127.0.0.1:${ctx.bridge.wsPort}`) => {
    const opened = await openDemo(origin, ctx.user);
    ctx.pages.push(opened.page);
    return opened;
  };
  try {
    await ctx.events.ready();
    await body(ctx);
  } catch (error) {
    for (const [i, page] of ctx.pages.entries()) {
      if (!page.isClosed()) await page.screenshot({ path: path.join(artifacts, `failure-${name}-${i}.png`) });
    }
    error.message += `\n--- wsbridge output ---\n${ctx.bridge.output}`;
    throw error;
  } finally {
    for (const page of ctx.pages) if (!page.isClosed()) await page.close();
    ctx.events.stop();
    await ctx.bridge.stop('SIGKILL');
  }
}

// --- The tests -------------------------------------------------------------------------------

test('the page loads from --static_dir with correct content types and connects with permessage-deflate', () =>
  scenario('loads', async ({ bridge, open, user, events }) => {
    const tap = await WireTap.start(bridge.wsPort);
    try {
      const { page, seen } = await open(`http://127.0.0.1:${tap.port}`);
      assert.equal(await page.textContent('#user'), user);
      const types = Object.fromEntries(seen.responses.map((r) => [new URL(r.url()).pathname, r.headers()['content-type']]));
      assert.match(types['/'], /^text\/html/);
      assert.match(types['/app.js'], /^text\/javascript/);
      assert.match(types['/wsbridge.js'], /^text\/javascript/);  // a symlink to clients/js/wsbridge.js
      assert.match(types['/style.css'], /^text\/css/);
      assert.match(types['/favicon.svg'], /^image\/svg\+xml/);
      for (const r of seen.responses) assert.ok(r.status() < 400, `${r.url()} answered ${r.status()}`);
      assert.deepEqual(seen.problems, []);

      // Chromium offered permessage-deflate and the bridge accepted it.
      assert.equal(seen.handshakes.length, 1);
      const extensions = Object.entries(seen.handshakes[0].headers)
        .find(([k]) => k.toLowerCase() === 'sec-websocket-extensions')?.[1];
      assert.match(extensions ?? '', /^permessage-deflate\b/);
      const [opened] = await events.waitFor(user, 'opened');

      // A message above --compression_min_bytes (256) travels compressed and arrives intact; a
      // short one travels plain.
      const long = `Your weekly report is ready. ${'All systems nominal. '.repeat(40)}`.trim();
      await bridgectl(bridge, 'push', `--session=${opened.sessionId}`, `--text=${long}`);
      await bridgectl(bridge, 'push', `--session=${opened.sessionId}`, '--text=short note');
      await page.waitForSelector('#notifications li[data-kind="text"] >> text=short note');
      assert.deepEqual(await page.$$eval('#notifications li[data-kind="text"] .text', (n) => n.map((e) => e.textContent)),
        ['short note', long]);
      const data = tap.frames.filter((f) => f.opcode === 1 || f.opcode === 2);
      assert.equal(data.length, 2, JSON.stringify(tap.frames));
      assert.equal(data[0].rsv1, true, 'the long message was sent compressed');
      assert.ok(data[0].length < long.length / 4, `${data[0].length} bytes on the wire for ${long.length}`);
      assert.equal(data[1].rsv1, false, 'the short message was sent plain');
      assert.equal(data[1].length, 'short note'.length);
    } finally {
      await tap.close();
    }
  }));

test('a Broadcast to topic prices shows up in the prices table; the screenshot shows the whole page', () =>
  scenario('broadcast', async ({ bridge, open, user }) => {
    const { page } = await open();
    const price = (symbol, value) =>
      bridgectl(bridge, 'broadcast', '--topic=prices', `--text=${JSON.stringify({ symbol, price: value, time: new Date().toISOString() })}`);
    for (const [symbol, value] of [['ACME', 12.5], ['GLOBEX', 99.1], ['INITECH', 4.25]]) await price(symbol, value);
    await page.waitForSelector('tr[data-symbol="INITECH"]');
    assert.deepEqual(await page.$$eval('#prices-body tr', (rows) => rows.map((r) => [r.dataset.symbol, r.cells[1].textContent])),
      [['ACME', '12.50'], ['GLOBEX', '99.10'], ['INITECH', '4.25']]);
    assert.equal(await page.isVisible('#prices-empty'), false);

    // Later updates change the row in place and colour it by direction.
    await price('ACME', 13.75);
    await price('GLOBEX', 98.2);
    await page.waitForSelector('tr[data-symbol="GLOBEX"].down');
    assert.equal(await page.textContent('tr[data-symbol="ACME"] .price'), '13.75');
    assert.equal(await page.getAttribute('tr[data-symbol="ACME"]', 'class'), 'up');
    assert.equal(await page.locator('#prices-body tr').count(), 3);

    // A broadcast to another topic does not reach this page.
    const other = await bridgectl(bridge, 'broadcast', '--topic=elsewhere', '--text={"symbol":"NOPE","price":1}');
    assert.equal(other.matched ?? 0, 0);

    // The rest of the page, for the screenshot: a notification to the user and a sent message.
    await bridgectl(bridge, 'push', `--user=${user}`, '--text=Your order #1042 has shipped');
    await page.fill('#message-input', 'Hello from the demo page');
    await page.click('#send');
    await page.waitForSelector('#notifications li >> text=order #1042');
    await page.waitForSelector('#sent li >> text=Hello from the demo page');
    await page.screenshot({ path: path.join(artifacts, 'demo-page.png'), fullPage: true });
  }));

test('a binary push arrives as the same bytes', () =>
  scenario('binary', async ({ bridge, open, user }) => {
    const { page } = await open();
    // Every byte value, including ones that are not UTF-8, twice over (512 bytes: above the
    // compression threshold, so this also crosses the inflater).
    const bytes = Buffer.alloc(512, 0).map((_, i) => (i * 7) % 256);
    const reply = await bridgectl(bridge, 'push', `--user=${user}`, `--binary_base64=${bytes.toString('base64')}`);
    assert.equal(reply.queued, 1);
    const item = await page.waitForSelector('#notifications li[data-kind="binary"]');
    assert.equal(await item.getAttribute('data-hex'), bytes.toString('hex'));
    assert.match(await item.textContent(), /binary, 512 bytes/);
  }));

test('a Disconnect with a "do not come back" code stops reconnects; another code reconnects', () =>
  scenario('disconnect', async ({ bridge, open, user, events }) => {
    const { page, seen } = await open();
    await events.waitFor(user, 'opened');

    // 4500 is outside 4000-4099: the page comes back with backoff, as a new session.
    await bridgectl(bridge, 'disconnect', `--user=${user}`, '--code=4500', '--reason=please reconnect');
    await events.waitFor(user, 'opened', 2);
    await page.waitForSelector('#state[data-state="open"]');
    assert.equal(seen.sockets.length, 2);

    // 4001 is in wsbridge's "do not come back" range 4000-4099.
    const result = await bridgectl(bridge, 'disconnect', `--user=${user}`, '--code=4001', '--reason=account suspended');
    assert.equal(result.sessions, 1);
    await page.waitForSelector('#state[data-state="closed"]');
    await page.waitForSelector('#notifications li >> text=connection closed (4001: account suspended)');
    assert.equal(await page.isDisabled('#send'), true);
    // A reconnect would come within the first backoff step (at most 500 ms, full jitter); wait
    // well past several of them and see none: no new socket in Chromium, no new session.
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(seen.sockets.length, 2, `Chromium opened ${seen.sockets.length} sockets`);
    assert.equal(events.of(user, 'opened').length, 2);
    assert.equal(await badge(page), 'closed');
    const listed = await bridgectl(bridge, 'sessions', 'list', `--user=${user}`);
    assert.deepEqual(listed.sessions ?? [], []);
    const closes = events.of(user, 'closed').map((e) => [e.closed.code, e.closed.initiator]);
    assert.deepEqual(closes, [[4500, 'INITIATOR_SERVER'], [4001, 'INITIATOR_SERVER']]);
  }));

test('a bridge restart is survived: reconnect attempts with backoff while it is down, then open', () =>
  scenario('restart', async (ctx) => {
    const { page, seen } = await ctx.open();
    const wsPort = ctx.bridge.wsPort;
    // A graceful restart: SIGTERM drains (close 1001 to every session), then the process exits.
    const exit = await ctx.bridge.stop('SIGTERM');
    assert.equal(exit.code, 0, ctx.bridge.output);
    await page.waitForSelector('#notifications li >> text=connection closed (1001');
    await page.waitForSelector('#state[data-state="reconnecting"]');

    // Down for 4 s: the page keeps trying, but backs off. With a 500 ms first step doubling to
    // 30 s and full jitter, 20 attempts in 4 s would mean no backoff at all (the sum of the
    // random delays of attempts 5..20 alone is under 4 s with vanishing probability).
    const socketsBefore = seen.sockets.length;
    await new Promise((r) => setTimeout(r, 4000));
    const attemptsWhileDown = seen.sockets.length - socketsBefore;
    assert.ok(attemptsWhileDown >= 2, `only ${attemptsWhileDown} reconnect attempts in 4 s`);
    assert.ok(attemptsWhileDown <= 20, `${attemptsWhileDown} reconnect attempts in 4 s: no backoff`);
    assert.equal(await badge(page), 'reconnecting');
    assert.ok(await page.evaluate(() => window.wsbridgeDemo.client.attempt) >= 2);

    // The new process on the same port: the page is back on its own, on the new bridge.
    ctx.events.stop();
    ctx.bridge = await startBridge({ wsPort });
    await page.waitForSelector('#state[data-state="open"]', { timeout: 60000 });
    // The page may be back before an Events tail could subscribe: ask the new bridge instead.
    await eventually(async () => (await bridgectl(ctx.bridge, 'sessions', 'list', `--user=${ctx.user}`)).sessions?.length === 1,
      `a session of ${ctx.user} on the new bridge`);
    await bridgectl(ctx.bridge, 'push', `--user=${ctx.user}`, '--text=welcome back');
    await page.waitForSelector('#notifications li >> text=welcome back');
    assert.equal(await page.evaluate(() => window.wsbridgeDemo.client.attempt), 0);
  }));

test('text typed in the page arrives as an Events message of its session', () =>
  scenario('typed', async ({ open, user, events }) => {
    const { page } = await open();
    const [opened] = await events.waitFor(user, 'opened');
    const typed = ['hello from Chromium', 'héllo ✓ 你好 🚀'];
    for (const text of typed) {
      await page.fill('#message-input', text);
      await page.press('#message-input', 'Enter');
    }
    const messages = await events.waitFor(user, 'message', typed.length);
    assert.deepEqual(messages.map((e) => e.message.message.text), typed);
    for (const e of messages) assert.equal(e.sessionId, opened.sessionId);
    assert.deepEqual(await page.$$eval('#sent li .text', (n) => n.map((e) => e.textContent)), [...typed].reverse());
    assert.equal(await page.inputValue('#message-input'), '');
  }));

test('closing the tab gives a closed event with initiator CLIENT', () =>
  scenario('close-tab', async ({ open, user, events }) => {
    const { page } = await open();
    const [opened] = await events.waitFor(user, 'opened');
    await page.close();
    const [closed] = await events.waitFor(user, 'closed');
    assert.equal(closed.sessionId, opened.sessionId);
    assert.equal(closed.closed.initiator, 'INITIATOR_CLIENT');
    assert.equal(closed.closed.code, 1001);  // "going away": Chromium closing the page
  }));
