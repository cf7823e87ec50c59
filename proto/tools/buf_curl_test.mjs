// The README's grpcurl commands, run as `buf curl` (npm @bufbuild/buf) against the wsbridge binary
// over server reflection, as an API user would (CTest Proto.BufCurl). No .proto file is given to
// buf: every schema comes from reflection, which is the point of the README's commands.
//
// The story: a bridge with --api_key and --allow_anonymous, one browser (npm `ws`) on topic
// "demo"; list services and methods; describe the service and a message from the reflection
// answer; find the browser with ListSessions; Push to it and Broadcast to its topic, and see the
// exact frames arrive; tail Events and see the browser's own message; an INVALID_ARGUMENT answer;
// and UNAUTHENTICATED without the key.
//
// Usage: WSBRIDGE_BINARY=build/wsbridge node proto/tools/buf_curl_test.mjs
import { execFileSync, spawn, execFile } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import path from "node:path";
import test, { after, before } from "node:test";
import assert from "node:assert/strict";

const toolsDir = path.dirname(fileURLToPath(import.meta.url));
execFileSync(path.join(toolsDir, "..", "..", ".ci", "ensure-node-modules.sh"), [toolsDir], { stdio: "inherit" });
const { default: WebSocket } = await import("ws");
const { fromBinary } = await import("@bufbuild/protobuf");
const { FileDescriptorProtoSchema } = await import("@bufbuild/protobuf/wkt");

const bufPath = path.join(toolsDir, "node_modules", ".bin", "buf");
const apiKey = "buf-curl-test-key";
const deadlineMs = 30_000; // generous: a loaded CI machine is slow, never a failure by itself

let bridge; // the wsbridge child process
let grpcUrl; // http://127.0.0.1:PORT
let wsPort;

// Starts wsbridge on free loopback ports and reads them from its startup line.
async function startBridge() {
  const binary = process.env.WSBRIDGE_BINARY;
  assert.ok(binary, "set WSBRIDGE_BINARY to the wsbridge binary");
  bridge = spawn(binary, [
    "--bind=127.0.0.1", "--grpc_port=0", "--ws_port=0", "--admin_port=0",
    "--allow_anonymous", "--public_topics=demo", `--api_key=${apiKey}`, "--drain_seconds=1",
  ], { stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no startup line")), deadlineMs);
    bridge.once("exit", (code) => reject(new Error(`wsbridge exited with ${code}`)));
    createInterface({ input: bridge.stdout }).on("line", (l) => {
      if (l.startsWith("wsbridge listening ")) {
        clearTimeout(timer);
        resolve(l);
      }
    });
  });
  const port = (name) => Number(new RegExp(`${name}=(\\d+)`).exec(line)[1]);
  grpcUrl = `http://127.0.0.1:${port("grpc_port")}`;
  wsPort = port("ws_port");
}

// Stops the bridge by its PID: SIGTERM (drain), then SIGKILL if it outlives the deadline.
async function stopBridge() {
  if (!bridge || bridge.exitCode !== null) return;
  const exited = new Promise((resolve) => bridge.once("exit", resolve));
  bridge.kill("SIGTERM");
  const timer = setTimeout(() => bridge.kill("SIGKILL"), deadlineMs);
  await exited;
  clearTimeout(timer);
}

// The flags every call shares: gRPC over cleartext HTTP/2 (grpcurl's -plaintext), and, unless
// `key` is false, the API key on the call and on the reflection requests (`--reflect-header '*'`
// copies the -H headers there; the bridge guards reflection with the key too).
function bufArgs({ key = true } = {}) {
  const args = ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--emit-defaults"];
  if (key) args.push("-H", `authorization: Bearer ${apiKey}`, "--reflect-header", "*");
  return args;
}

// Runs `buf curl` to completion: { code, stdout, stderr }, never throws on a non-zero exit.
function bufCurl(args) {
  return new Promise((resolve) => {
    execFile(bufPath, args, { timeout: deadlineMs }, (error, stdout, stderr) => {
      resolve({ code: error ? (error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

// Calls one RPC with a JSON request and returns the parsed JSON answer; fails on an error status.
async function call(method, request, options) {
  const r = await bufCurl([...bufArgs(options), "-d", JSON.stringify(request), `${grpcUrl}/${method}`]);
  assert.equal(r.code, 0, `${method} failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

// Calls one RPC that must fail; returns buf curl's error JSON ({code, message}) from stderr.
async function callError(method, request, options) {
  const r = await bufCurl([...bufArgs(options), "-d", JSON.stringify(request), `${grpcUrl}/${method}`]);
  assert.notEqual(r.code, 0, `${method} unexpectedly succeeded: ${r.stdout}`);
  return JSON.parse(r.stderr.slice(r.stderr.indexOf("{")));
}

// Returns the end of the first complete JSON value in `text` (buf curl prints each streamed
// message as an indented JSON object), or -1 while it is incomplete.
function firstJsonEnd(text) {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return i + 1;
  }
  return -1;
}

// A browser: a WebSocket whose frames are collected as strings, awaited with a deadline.
class Browser {
  constructor(url) {
    this.frames = [];
    this.waiters = [];
    this.ws = new WebSocket(url);
    this.ws.on("message", (data) => {
      this.frames.push(data.toString());
      this.waiters.splice(0).forEach((w) => w());
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", resolve);
      this.ws.once("error", reject);
    });
  }
  async nextFrame() {
    const deadline = Date.now() + deadlineMs;
    while (this.frames.length === 0) {
      assert.ok(Date.now() < deadline, "no frame within the deadline");
      await new Promise((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
    return this.frames.shift();
  }
  close() {
    this.ws.close();
  }
}

let browser;
let sessionId;

before(async () => {
  await startBridge();
  browser = new Browser(`ws://127.0.0.1:${wsPort}/ws?topics=demo`);
  await browser.opened;
});

after(async () => {
  browser?.close();
  await stopBridge();
});

// grpcurl -plaintext localhost:50051 list
test("list: the bridge, health and both reflection versions", async () => {
  const r = await bufCurl([...bufArgs(), "--list-services", grpcUrl]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
    "wsbridge.v1.Bridge",
    "",
  ].join("\n"));
});

// grpcurl -plaintext localhost:50051 list wsbridge.v1.Bridge
test("list methods: every RPC of wsbridge.v1.Bridge", async () => {
  const r = await bufCurl([...bufArgs(), "--list-methods", grpcUrl]);
  assert.equal(r.code, 0, r.stderr);
  const bridgeMethods = r.stdout.split("\n").filter((l) => l.startsWith("wsbridge.v1.Bridge/"));
  assert.deepEqual(bridgeMethods, [
    "Broadcast", "BroadcastStream", "Disconnect", "Events", "GetSession", "ListSessions", "Push",
    "PushBatch", "PushStream", "Subscribe", "Unsubscribe",
  ].map((m) => `wsbridge.v1.Bridge/${m}`));
});

// grpcurl -plaintext localhost:50051 describe wsbridge.v1.Bridge
// buf curl has no `describe`: it asks the reflection service itself (whose schema it also gets
// by reflection) for the file defining the symbol, and the test renders the service from it.
test("describe: reflection serves bridge.proto with the service and its messages", async () => {
  const answer = await call("grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    { fileContainingSymbol: "wsbridge.v1.Bridge" });
  const files = answer.fileDescriptorResponse.fileDescriptorProto.map(
    (b64) => fromBinary(FileDescriptorProtoSchema, Buffer.from(b64, "base64")));
  const file = files.find((f) => f.name === "wsbridge/v1/bridge.proto");
  assert.ok(file, `bridge.proto not served: ${files.map((f) => f.name)}`);
  assert.equal(file.package, "wsbridge.v1");
  const service = file.service.find((s) => s.name === "Bridge");
  const rendered = service.method.map((m) =>
    `rpc ${m.name} ( ${m.clientStreaming ? "stream " : ""}${m.inputType} ) ` +
    `returns ( ${m.serverStreaming ? "stream " : ""}${m.outputType} );`);
  assert.deepEqual(rendered, [
    "rpc Push ( .wsbridge.v1.PushRequest ) returns ( .wsbridge.v1.PushResponse );",
    "rpc Broadcast ( .wsbridge.v1.BroadcastRequest ) returns ( .wsbridge.v1.BroadcastResponse );",
    "rpc Subscribe ( .wsbridge.v1.SubscribeRequest ) returns ( .wsbridge.v1.SubscribeResponse );",
    "rpc Unsubscribe ( .wsbridge.v1.UnsubscribeRequest ) returns ( .wsbridge.v1.UnsubscribeResponse );",
    "rpc Disconnect ( .wsbridge.v1.DisconnectRequest ) returns ( .wsbridge.v1.DisconnectResponse );",
    "rpc GetSession ( .wsbridge.v1.GetSessionRequest ) returns ( .wsbridge.v1.Session );",
    "rpc ListSessions ( .wsbridge.v1.ListSessionsRequest ) returns ( .wsbridge.v1.ListSessionsResponse );",
    "rpc Events ( .wsbridge.v1.EventsRequest ) returns ( stream .wsbridge.v1.Event );",
    "rpc PushStream ( stream .wsbridge.v1.PushRequest ) returns ( stream .wsbridge.v1.PushResponse );",
    "rpc BroadcastStream ( stream .wsbridge.v1.BroadcastRequest ) returns ( stream .wsbridge.v1.BroadcastResponse );",
    "rpc PushBatch ( .wsbridge.v1.PushBatchRequest ) returns ( .wsbridge.v1.PushBatchResponse );",
  ]);
  // grpcurl -plaintext localhost:50051 describe wsbridge.v1.PushRequest
  const push = file.messageType.find((m) => m.name === "PushRequest");
  assert.deepEqual(push.field.map((f) => `${f.name} = ${f.number}`),
    ["session_ids = 1", "user_ids = 2", "message = 3"]);
});

// grpcurl -plaintext -d '{"topic":"demo"}' localhost:50051 wsbridge.v1.Bridge/ListSessions
test("ListSessions: the browser on topic demo, anonymous", async () => {
  const answer = await call("wsbridge.v1.Bridge/ListSessions", { topic: "demo" });
  assert.equal(answer.sessions.length, 1, JSON.stringify(answer));
  const [session] = answer.sessions;
  assert.ok(session.sessionId);
  assert.equal(session.userId, "");
  assert.deepEqual(session.topics, ["demo"]);
  assert.equal(answer.nextPageToken, "");
  sessionId = session.sessionId;
});

// grpcurl -plaintext -d '{"session_ids":["<id>"],"message":{"text":"hello, you"}}' \
//   localhost:50051 wsbridge.v1.Bridge/Push
test("Push: to the session by id, and to an unknown id", async () => {
  assert.ok(sessionId, "ListSessions ran first");
  const answer = await call("wsbridge.v1.Bridge/Push",
    { session_ids: [sessionId], message: { text: "hello, you" } });
  assert.deepEqual(answer, { matched: 1, queued: 1, dropped: 0, unknownSessionIds: [] });
  assert.equal(await browser.nextFrame(), "hello, you");

  const unknown = await call("wsbridge.v1.Bridge/Push",
    { session_ids: ["no-such-session"], message: { text: "lost" } });
  assert.deepEqual(unknown,
    { matched: 0, queued: 0, dropped: 0, unknownSessionIds: ["no-such-session"] });
});

// grpcurl -plaintext -d '{"topics":["demo"],"message":{"text":"hello, browsers"}}' \
//   localhost:50051 wsbridge.v1.Bridge/Broadcast
test("Broadcast: to topic demo reaches the browser with the exact text", async () => {
  const answer = await call("wsbridge.v1.Bridge/Broadcast",
    { topics: ["demo"], message: { text: "hello, browsers" } });
  assert.deepEqual(answer, { matched: 1, queued: 1, dropped: 0 });
  assert.equal(await browser.nextFrame(), "hello, browsers");
});

// grpcurl -plaintext -d '{"kinds":["EVENT_KIND_MESSAGE"]}' localhost:50051 wsbridge.v1.Bridge/Events
// The stream has no "ready" signal, so the browser says something every 200 ms until the first
// event shows up; that event is then one of the browser's own messages.
test("Events: the stream shows the browser's message", async () => {
  assert.ok(sessionId, "ListSessions ran first");
  const tail = spawn(bufPath, [...bufArgs(), "-d", JSON.stringify({ kinds: ["EVENT_KIND_MESSAGE"] }),
    `${grpcUrl}/wsbridge.v1.Bridge/Events`], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  tail.stdout.on("data", (d) => { out += d; });
  tail.stderr.on("data", (d) => { err += d; });
  try {
    const deadline = Date.now() + deadlineMs;
    for (let n = 0; firstJsonEnd(out) < 0; n++) {
      assert.ok(Date.now() < deadline, `no event within the deadline; buf curl said: ${err}`);
      assert.equal(tail.exitCode, null, `buf curl ended: ${err}`);
      browser.ws.send(`ping ${n}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const event = JSON.parse(out.slice(0, firstJsonEnd(out)));
    assert.equal(event.sessionId, sessionId);
    assert.equal(event.userId, "");
    assert.match(event.message.message.text, /^ping \d+$/);
    assert.ok(Number(event.sequence) > 0);
  } finally {
    tail.kill("SIGTERM"); // our own buf curl, by its PID
  }
});

// An error is a gRPC status, which buf curl prints as JSON on stderr with a non-zero exit.
test("INVALID_ARGUMENT: a Push with no target names the field", async () => {
  const error = await callError("wsbridge.v1.Bridge/Push", { message: { text: "to nobody" } });
  assert.equal(error.code, "invalid_argument");
  assert.match(error.message, /^session_ids or user_ids: /);
});

// grpcurl -plaintext -H 'authorization: Bearer KEY' ...
test("API key: without it the call is UNAUTHENTICATED, and reflection is refused", async () => {
  // No key at all: reflection is refused before any call (buf reports UNAUTHENTICATED from
  // reflection in its own words, not as JSON).
  const none = await bufCurl([...bufArgs({ key: false }), "--list-services", grpcUrl]);
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /not authenticated/);
  // Reflection with the key, the call without: the bridge's own answer, as JSON.
  const r = await bufCurl(["curl", "--protocol", "grpc", "--http2-prior-knowledge",
    "--reflect-header", `authorization: Bearer ${apiKey}`,
    "-d", JSON.stringify({ topics: ["demo"], message: { text: "no key" } }),
    `${grpcUrl}/wsbridge.v1.Bridge/Broadcast`]);
  assert.notEqual(r.code, 0);
  const answer = JSON.parse(r.stderr.slice(r.stderr.indexOf("{")));
  assert.equal(answer.code, "unauthenticated");
  assert.match(answer.message, /missing API key/);

  // A wrong key is refused the same way; x-api-key is the other accepted header.
  const wrong = await bufCurl(["curl", "--protocol", "grpc", "--http2-prior-knowledge",
    "-H", "authorization: Bearer wrong", "--reflect-header", "*", "--list-services", grpcUrl]);
  assert.notEqual(wrong.code, 0);
  const other = await bufCurl(["curl", "--protocol", "grpc", "--http2-prior-knowledge",
    "-H", `x-api-key: ${apiKey}`, "--reflect-header", "*", "--list-services", grpcUrl]);
  assert.equal(other.code, 0, other.stderr);
  assert.match(other.stdout, /^wsbridge\.v1\.Bridge$/m);
  // Nothing reached the browser from the refused calls.
  assert.deepEqual(browser.frames, []);
});
