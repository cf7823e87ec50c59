// Helpers for tests against the real wsbridge binary: start it on free ports (read from its
// startup line), stop it by PID with a chosen signal, sign HS256 tokens, wait for a condition.
// Only node's own modules, so clients/web's browser suite uses it too; the gRPC API client is
// bridge_api.js.
import { spawn } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';

export const JWT_SECRET = 'js-client-test-secret';

/** An HS256 JWT for user `sub`, valid for an hour, unique per call (jti). */
export function signToken(sub, extraClaims = {}) {
  const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
  const header = b64({ alg: 'HS256', typ: 'JWT' });
  const now = Math.floor(Date.now() / 1000);
  const payload = b64({ sub, iat: now, exp: now + 3600, jti: randomUUID(), ...extraClaims });
  const signature = createHmac('sha256', JWT_SECRET).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}

/**
 * Polls `condition` until it returns truthy; fails with `what` after a generous deadline (the
 * suite shares a loaded machine with builds and other suites, so this is no timing claim).
 * `what` may be a function, called at the deadline to describe what was seen instead.
 */
export async function eventually(condition, what, deadlineMs = 60000) {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for: ${typeof what === 'function' ? what() : what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One running wsbridge process. */
export class BridgeProcess {
  /**
   * Starts the binary and resolves once it printed its ports.
   * @param {string} binary path of the wsbridge executable
   * @param {{wsPort?: number, extraArgs?: string[]}} [options] wsPort 0 picks a free port
   */
  static async start(binary, { wsPort = 0, extraArgs = [] } = {}) {
    const args = [
      '--bind=127.0.0.1',
      '--grpc_port=0',
      `--ws_port=${wsPort}`,
      '--admin_port=0',
      '--io_threads=1',
      `--jwt_secret=${JWT_SECRET}`,
      '--drain_seconds=1',
      ...extraArgs,
    ];
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const bridge = new BridgeProcess(child);
    await bridge.#ready;
    return bridge;
  }

  #ready;
  #exited;
  #output = '';

  constructor(child) {
    this.child = child;
    this.#exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    this.#ready = new Promise((resolve, reject) => {
      let stdout = '';
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
        this.#output += chunk;
        const m = /wsbridge listening grpc_port=(\d+) ws_port=(\d+) admin_port=(\d+)/.exec(stdout);
        if (m && !this.grpcPort) {
          this.grpcPort = Number(m[1]);
          this.wsPort = Number(m[2]);
          this.adminPort = Number(m[3]);
          resolve();
        }
      });
      child.stderr.on('data', (chunk) => (this.#output += chunk));
      child.on('error', reject);
      this.#exited.then(({ code, signal }) => {
        if (!this.grpcPort) reject(new Error(`wsbridge exited (${code ?? signal}) before listening:\n${this.#output}`));
      });
    });
  }

  get wsUrl() {
    return `ws://127.0.0.1:${this.wsPort}/ws`;
  }

  /** Everything the process printed, for failure messages. */
  get output() {
    return this.#output;
  }

  /** Sends `signal` to the process by PID and resolves with how it exited. */
  async stop(signal = 'SIGTERM') {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.#exited;
  }
}
