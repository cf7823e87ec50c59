// bench/ws_client.mjs: the benchmark's subscribers as ONE Node.js process, a single-threaded event
// loop reading every socket through the npm `ws` package (8.x), as an application built on
// another stack would. A drop-in for wsbridge_bench_loadgen in bench/run.py --client=node: the
// same flags, the same checks of every benchmark message (bench/bench_payload.h: "<seq> <sent_ns> "
// then padding; per connection seq from 0 in order, duplicates, gaps) and the same output lines:
//   READY {json}   once every connection has either completed its handshake or given up
//   RESULT {json}  at the end
// The clients only read: ws answers the server's pings; they never send data, pings or close
// frames of their own. With --deflate=true every client offers permessage-deflate (ws's, which
// browsers' matches); otherwise none does (ws would offer it by default). With --tls=true they
// speak wss and do not verify the server's certificate. "wire_bytes" counts what the clients'
// sockets read after their handshakes (frames as sent, compressed or not; with TLS, TLS records).
// Latency is the receive time minus the payload's sent_ns, both CLOCK_MONOTONIC:
// process.hrtime.bigint() is libuv's uv_hrtime, clock_gettime(CLOCK_MONOTONIC) on Linux, the
// clock the publisher stamps with. The checks and the latency histogram are the loadgen's, in
// bench/message_checks.mjs, so the two clients' numbers mean the same thing.
// End: every connection got its --expect messages (or closed, or failed), or no message arrived
// for --timeout seconds after READY; with --expect=0, when stdin closes. SIGTERM/SIGINT end the
// run early, still with READY (when not printed yet) and RESULT. Progress goes to stderr once a
// second. Exit code: 0 on success, 1 when a connection failed or (with --expect > 0) did not
// receive every message in order, 2 on a bad command line.
//
// Threads: one. Everything here runs on the event loop (V8 and libuv keep helper threads of their
// own for garbage collection and DNS; no socket is read on them). Per message the work is a
// timestamp, a scan of the two leading numbers and a few counter updates.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import tls from 'node:tls';

import { ReceiveStats, SequenceCheck, parsePayload } from './message_checks.mjs';

const require = createRequire(import.meta.url);
let WebSocket;
try {
  WebSocket = require('ws');
} catch {
  process.stderr.write('ws_client: the npm package ws is missing: run bench/install-deps.sh\n');
  process.exit(2);
}

const USAGE =
  'usage: node bench/ws_client.mjs --port=N (--path_template=T | --paths_file=F)\n' +
  '  --connections=N\n' +
  '  [--host=127.0.0.1] [--index_offset=0] [--threads=1] [--connect_concurrency=200]\n' +
  '  [--expect=0] [--timeout=60] [--send_pings=false] [--deflate=false] [--tls=false]\n' +
  '  One process, one event loop: --threads takes 1 only (run.py starts one process per port).\n';

// As in loadgen.cc: retries after the first failed attempt, the deadline of one attempt (TCP
// connect, TLS and WebSocket handshake), the first retry's backoff (doubling), and how many
// connection failures are described on stderr (the rest are only counted).
const CONNECT_RETRIES = 3;
const ATTEMPT_DEADLINE_MS = 15_000;
const FIRST_RETRY_BACKOFF_MS = 100;
const FAILURES_TO_DESCRIBE = 5;

// --- Command line ------------------------------------------------------------------------------

class UsageError extends Error {}

// Whole-string numbers, as loadgen's ParseNumber (std::from_chars over the whole value).
const UNSIGNED = /^[0-9]+$/;
const DECIMAL = /^[0-9]*\.?[0-9]+(e[+-]?[0-9]+)?$/i;

// Everything the command line sets, with loadgen's defaults.
function parseFlags(args) {
  const config = {
    host: '127.0.0.1', port: 0, pathTemplate: '', pathsFile: '', connections: 0,
    indexOffset: 0, connectConcurrency: 200, expect: 0, timeoutSeconds: 60, deflate: false,
    tls: false,
  };
  const unsigned = (value, min) => UNSIGNED.test(value) && Number(value) >= min;
  const bool = (value) => value === 'true' || value === 'false';
  for (const arg of args) {
    const equals = arg.indexOf('=');
    if (!arg.startsWith('--') || equals < 0) {
      throw new UsageError(`expected --name=value, got '${arg}'`);
    }
    const name = arg.slice(2, equals);
    const value = arg.slice(equals + 1);
    let ok = true;
    switch (name) {
      case 'host': config.host = value; ok = value !== ''; break;
      case 'port':
        ok = unsigned(value, 1) && Number(value) <= 65535; config.port = Number(value); break;
      case 'path_template': config.pathTemplate = value; ok = value !== ''; break;
      case 'paths_file': config.pathsFile = value; ok = value !== ''; break;
      case 'connections': ok = unsigned(value, 1); config.connections = Number(value); break;
      case 'index_offset': ok = unsigned(value, 0); config.indexOffset = Number(value); break;
      case 'threads':
        if (value !== '1') {
          throw new UsageError(`bad value for --threads: '${value}' (this client is one ` +
                               'event loop: only 1; start one process per port instead)');
        }
        break;
      case 'connect_concurrency':
        ok = unsigned(value, 1); config.connectConcurrency = Number(value); break;
      case 'expect': ok = unsigned(value, 0); config.expect = Number(value); break;
      case 'timeout':
        ok = DECIMAL.test(value) && Number(value) > 0; config.timeoutSeconds = Number(value); break;
      case 'deflate': ok = bool(value); config.deflate = value === 'true'; break;
      case 'tls': ok = bool(value); config.tls = value === 'true'; break;
      case 'send_pings': ok = value === 'false'; break;  // the clients never send pings
      default: throw new UsageError(`unknown flag --${name}`);
    }
    if (!ok) throw new UsageError(`bad value for --${name}: '${value}'`);
  }
  if (config.port === 0) throw new UsageError('--port is required');
  if (config.connections === 0) throw new UsageError('--connections is required');
  if ((config.pathTemplate === '') === (config.pathsFile === '')) {
    throw new UsageError('exactly one of --path_template and --paths_file is required');
  }
  return config;
}

// The request target of every connection of this process, by local index: line
// index_offset + i of --paths_file, or --path_template with "{i}" the global index.
function loadTargets(config) {
  if (config.pathsFile === '') {
    return (local) => config.pathTemplate.replaceAll('{i}', String(config.indexOffset + local));
  }
  let text;
  try {
    text = readFileSync(config.pathsFile, 'utf8');
  } catch {
    throw new UsageError(`cannot open --paths_file ${config.pathsFile}`);
  }
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();  // the last newline
  const paths = lines.slice(config.indexOffset, config.indexOffset + config.connections)
    .map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
  if (paths.length < config.connections) {
    throw new UsageError(`${config.pathsFile} has fewer than ` +
                         `${config.indexOffset + config.connections} lines`);
  }
  return (local) => paths[local];
}

// --- Clients -----------------------------------------------------------------------------------

// One WebSocket client: connects (with retries), then checks every message it receives against
// the sequence it expects. State is one field: connecting -> open -> closed, or failed.
class BenchClient {
  constructor(run, localIndex) {
    this.run = run;
    this.localIndex = localIndex;
    this.ws = null;
    this.timer = null;     // attempt deadline, then retry backoff; only while connecting
    this.attempts = 0;
    this.state = 'connecting';
    this.sequence = new SequenceCheck();
    this.finished = false; // counted in Run.onConnectionFinished
    this.tcpSocket = null;
    this.wireBytesAtOpen = 0;
    this.lastError = null;   // the last attempt's, for the failure message
  }

  startAttempt() {
    ++this.attempts;
    const run = this.run;
    const attempt = this.attempts;
    run.onConnectStarted();
    const ws = new WebSocket(run.urlBase + run.targetOf(this.localIndex), {
      perMessageDeflate: run.config.deflate,
      rejectUnauthorized: false,
      headers: { 'User-Agent': 'wsbridge-bench' },
      createConnection: (options) => this.openSocket(options),
    });
    this.ws = ws;
    this.timer = setTimeout(() => ws.terminate(), ATTEMPT_DEADLINE_MS);
    ws.on('open', () => this.onOpen());
    ws.on('message', (data) => this.onMessage(data));
    ws.on('error', (error) => { this.lastError = error; });
    ws.on('close', (code) => {
      if (attempt !== this.attempts) return;
      if (this.state === 'connecting') this.onAttemptFailed();
      else if (this.state === 'open') this.onClosed(code);
    });
  }

  // The TCP socket of an attempt, kept to count its bytes; with TLS, the TLS socket over it (so
  // the TCP socket's bytesRead counts records: a TLS socket of its own would count plaintext).
  openSocket(options) {
    this.tcpSocket = net.connect({ host: options.host, port: options.port });
    if (!this.run.config.tls) return this.tcpSocket;
    const servername = net.isIP(options.host) ? '' : options.host;
    return tls.connect({ ...options, servername, socket: this.tcpSocket });
  }

  onOpen() {
    clearTimeout(this.timer);
    this.timer = null;
    this.state = 'open';
    this.wireBytesAtOpen = this.tcpSocket.bytesRead;
    this.run.onConnected();
    this.run.startNextConnection();
  }

  onAttemptFailed() {
    clearTimeout(this.timer);
    this.ws = null;
    if (this.attempts <= CONNECT_RETRIES) {
      this.timer = setTimeout(() => this.startAttempt(),
                              FIRST_RETRY_BACKOFF_MS * 2 ** (this.attempts - 1));
      return;
    }
    this.timer = null;
    this.state = 'failed';
    this.finished = true;
    this.run.onConnectFailed(this.run.targetOf(this.localIndex), this.lastError);
    this.run.startNextConnection();
  }

  onMessage(data) {
    const now = process.hrtime.bigint();
    const run = this.run;
    const stats = run.stats;
    ++stats.received;
    if (stats.firstReceiveNs === 0n) stats.firstReceiveNs = now;
    stats.lastReceiveNs = now;
    const payload = parsePayload(data, run.parsed);
    if (payload === null) {
      ++stats.unparsed;
      this.sequence.takeUnparsed();
      return;
    }
    stats.latency.record(Number(now) - payload.sentNs);
    const expect = run.config.expect;
    this.sequence.take(payload.seq, expect, stats);
    if (expect > 0 && this.sequence.nextSeq === expect) this.markFinished();
  }

  onClosed(code) {
    this.state = 'closed';
    if (this.finished) return;  // a close after the last expected message is not early
    const stats = this.run.stats;
    ++stats.closedEarly;
    stats.closeCodes.set(code, (stats.closeCodes.get(code) ?? 0) + 1);
    this.markFinished();
  }

  markFinished() {
    if (this.finished) return;
    this.finished = true;
    this.run.onConnectionFinished();
  }

  // Received every expected message, in order, with nothing duplicated or missing. With
  // --expect=0: still connected.
  complete(expect) {
    if (expect === 0) return this.state === 'open';
    return this.sequence.complete(expect);
  }
  // Expected messages after the last one that arrived (0 for a connection that never opened).
  missingAtEnd(expect) {
    return this.state === 'failed' ? 0 : this.sequence.missingAtEnd(expect);
  }
  // Bytes the TCP socket read since the handshake (0 when the connection never opened); a closed
  // socket keeps its count.
  wireBytesSinceOpen() {
    if (this.state !== 'open' && this.state !== 'closed') return 0;
    return Math.max(0, this.tcpSocket.bytesRead - this.wireBytesAtOpen);
  }
}

// --- The run -----------------------------------------------------------------------------------

// The configuration, the connections still to open, the clients and the counters of one run.
class Run {
  constructor(config, targetOf) {
    this.config = config;
    this.targetOf = targetOf;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    this.urlBase = `${config.tls ? 'wss' : 'ws'}://${host}:${config.port}`;
    this.clients = [];
    this.stats = new ReceiveStats();
    this.parsed = { seq: 0, sentNs: 0 };  // parsePayload's output, reused
    this.nextConnection = 0;
    this.connected = 0;
    this.failed = 0;
    this.finishedConnections = 0;
    this.firstConnectStartNs = 0n;
    this.lastHandshakeDoneNs = 0n;
    this.readyNs = 0n;   // when READY was printed; 0n before
    this.stdinOpen = true;
    this.ended = false;
  }

  start() {
    const slots = Math.min(this.config.connectConcurrency, this.config.connections);
    for (let i = 0; i < slots; ++i) this.startNextConnection();
  }

  // A slot is free: open the next connection, if any is left.
  startNextConnection() {
    if (this.ended || this.nextConnection >= this.config.connections) return;
    const client = new BenchClient(this, this.nextConnection++);
    this.clients.push(client);
    client.startAttempt();
  }

  onConnectStarted() {
    if (this.firstConnectStartNs === 0n) this.firstConnectStartNs = process.hrtime.bigint();
  }
  onConnected() {
    this.lastHandshakeDoneNs = process.hrtime.bigint();
    ++this.connected;
    this.afterConnectOutcome();
  }
  onConnectFailed(target, error) {
    if (this.failed++ < FAILURES_TO_DESCRIBE) {
      process.stderr.write(`ws_client: connection to ${target} failed after ` +
                           `${CONNECT_RETRIES + 1} attempts: ${error?.message ?? 'closed'}\n`);
    }
    this.afterConnectOutcome();
    this.onConnectionFinished();
  }
  afterConnectOutcome() {
    if (this.readyNs === 0n && this.connected + this.failed === this.config.connections) {
      this.printReady();
    }
  }
  // A connection has nothing more to receive: it got its last message, was closed, or failed.
  onConnectionFinished() {
    ++this.finishedConnections;
    if (this.config.expect > 0 && this.readyNs !== 0n &&
        this.finishedConnections === this.config.connections) {
      this.end();
    }
  }

  handshakeJson() {
    const first = this.firstConnectStartNs;
    const last = this.lastHandshakeDoneNs;
    const seconds = last > first && first !== 0n ? Number(last - first) / 1e9 : 0;
    const rate = seconds > 0 ? this.connected / seconds : 0;
    return `"connected":${this.connected},"failed":${this.failed},` +
           `"handshake_seconds":${seconds.toFixed(3)},"handshakes_per_sec":${rate.toFixed(3)}`;
  }

  printReady() {
    this.readyNs = process.hrtime.bigint();
    process.stdout.write(`READY {${this.handshakeJson()}}\n`);
    const done = this.config.expect > 0 ? this.finishedConnections === this.config.connections
                                        : !this.stdinOpen;
    if (done) this.end();
  }

  // With --expect=0 the run holds its connections until stdin closes; one that closes while
  // connections are still being opened ends the run at READY.
  onStdinClosed() {
    this.stdinOpen = false;
    if (this.readyNs !== 0n) this.end();
  }

  // Once a second: progress on stderr, and the end of a run that went quiet for --timeout s.
  tick() {
    const received = this.stats.received;
    process.stderr.write(`ws_client: connected ${this.connected}/${this.config.connections} ` +
                         `received ${received} (${received - (this.lastProgress ?? 0)}/s)\n`);
    this.lastProgress = received;
    if (this.config.expect === 0 || this.readyNs === 0n) return;
    const lastActivity = this.stats.lastReceiveNs > this.readyNs ? this.stats.lastReceiveNs
                                                                 : this.readyNs;
    if (Number(process.hrtime.bigint() - lastActivity) > this.config.timeoutSeconds * 1e9) {
      const waiting = this.config.connections - this.finishedConnections;
      process.stderr.write(`ws_client: no message for ${this.config.timeoutSeconds}s; ` +
                           `finishing with ${waiting} connections still waiting\n`);
      this.end();
    }
  }

  resultJson() {
    const config = this.config;
    const stats = this.stats;
    let complete = 0;
    let missingAtEnd = 0;
    let wireBytes = 0;
    for (const client of this.clients) {
      complete += client.complete(config.expect) ? 1 : 0;
      missingAtEnd += client.missingAtEnd(config.expect);
      wireBytes += client.wireBytesSinceOpen();
    }
    this.complete = complete;
    const any = stats.received > 0;
    const first = any ? stats.firstReceiveNs : 0n;
    const last = any ? stats.lastReceiveNs : 0n;
    const seconds = Number(last - first) / 1e9;
    const rate = seconds > 0 ? stats.received / seconds : 0;
    const codes = [...stats.closeCodes.entries()].sort((a, b) => a[0] - b[0])
      .map(([code, count]) => `"${code}":${count}`).join(',');
    const latency = stats.latency;
    const f = (value) => value.toFixed(3);
    return `{"connections":${config.connections},${this.handshakeJson()},` +
      `"expected_per_connection":${config.expect},"received":${stats.received},` +
      `"complete_connections":${complete},"duplicates":${stats.duplicates},` +
      `"gaps":${stats.gaps},"missing":${stats.missing},"missing_at_end":${missingAtEnd},` +
      `"unparsed":${stats.unparsed},"beyond_expected":${stats.beyondExpected},` +
      `"closed_early":${stats.closedEarly},"close_codes":{${codes}},` +
      `"first_receive_ns":${first},"last_receive_ns":${last},` +
      `"receive_seconds":${f(seconds)},"deliveries_per_sec":${f(rate)},` +
      `"wire_bytes":${wireBytes},"client":"node-ws",` +
      `"latency_us":{"p50":${f(latency.percentileMicros(0.5))},` +
      `"p90":${f(latency.percentileMicros(0.9))},"p99":${f(latency.percentileMicros(0.99))},` +
      `"p999":${f(latency.percentileMicros(0.999))},"max":${f(latency.maxMicros())},` +
      `"mean":${f(latency.meanMicros())}}}`;
  }

  // Prints READY (if the run ends before every attempt did) and RESULT, then exits; the kernel
  // closes the sockets, as it does for the loadgen's.
  end() {
    if (this.ended) return;
    this.ended = true;
    if (this.readyNs === 0n) this.printReady();
    const result = this.resultJson();
    const success = this.failed === 0 &&
                    (this.config.expect === 0 || this.complete === this.config.connections);
    process.stdout.write(`RESULT ${result}\n`, () => process.exit(success ? 0 : 1));
  }
}

function main(argv) {
  if (argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h')) {
    process.stdout.write(USAGE);
    return;
  }
  let config;
  let targetOf;
  try {
    config = parseFlags(argv);
    targetOf = loadTargets(config);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`ws_client: ${error.message}\n${USAGE}`);
    process.exit(2);
  }
  const run = new Run(config, targetOf);
  process.on('SIGTERM', () => run.end());
  process.on('SIGINT', () => run.end());
  if (config.expect === 0) {
    // Held idle until stdin reaches its end (the driver closes it) or a signal arrives.
    process.stdin.on('data', () => {});
    const closed = () => run.onStdinClosed();
    process.stdin.on('end', closed);
    process.stdin.on('error', closed);
  }
  setInterval(() => run.tick(), 1000);
  run.start();
}

main(process.argv.slice(2));
