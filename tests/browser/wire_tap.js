// WireTap: a TCP relay on 127.0.0.1 between Chromium and the bridge that records the header of
// every WebSocket frame the bridge sends: FIN, RSV1 (set on a permessage-deflate message), opcode
// and payload length on the wire. Chromium's DevTools protocol reports frames after it inflated
// them, so only the bytes themselves show whether a message came compressed and how big it was.
//
// Each accepted connection gets its own upstream connection; bytes pass through unchanged in both
// directions. The bridge's side is parsed only when its response starts with "HTTP/1.1 101"
// (Chromium opens every WebSocket on a fresh connection); any other response (the page's files)
// passes through unparsed.
//
// Thread-safety: none needed; everything runs on node's event loop.
import net from 'node:net';

/** One frame the bridge sent: `connection` counts upgraded connections from 1. */
export class TappedFrame {
  constructor(connection, fin, rsv1, opcode, length) {
    Object.assign(this, { connection, fin, rsv1, opcode, length });
  }
}

export class WireTap {
  /** Listens on a free loopback port and relays to 127.0.0.1:`targetPort`. */
  static async start(targetPort) {
    const tap = new WireTap(targetPort);
    await new Promise((resolve, reject) => {
      tap.#server.once('error', reject);
      tap.#server.listen(0, '127.0.0.1', resolve);
    });
    tap.port = tap.#server.address().port;
    return tap;
  }

  /** @type {TappedFrame[]} every frame the bridge sent on upgraded connections, in order */
  frames = [];
  #server;
  #sockets = new Set();
  #upgraded = 0;

  constructor(targetPort) {
    this.#server = net.createServer((browser) => this.#relay(browser, targetPort));
  }

  #relay(browser, targetPort) {
    const bridge = net.connect(targetPort, '127.0.0.1');
    for (const s of [browser, bridge]) {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
      s.on('error', () => {});  // the other side's close ends the pair; nothing to report
    }
    browser.pipe(bridge);
    bridge.pipe(browser);
    browser.on('close', () => bridge.destroy());
    bridge.on('close', () => browser.destroy());

    const parser = new ServerFrameParser((fin, rsv1, opcode, length) =>
      this.frames.push(new TappedFrame(parser.connection, fin, rsv1, opcode, length)));
    bridge.on('data', (chunk) => {
      if (parser.feed(chunk) === 'upgraded') parser.connection = ++this.#upgraded;
    });
  }

  /** Stops listening and drops every relayed connection. */
  async close() {
    for (const s of this.#sockets) s.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

// Parses the bridge's side of one connection: the HTTP response head, then (after a 101) frame
// headers, skipping payloads without keeping them.
class ServerFrameParser {
  connection = 0;
  #onFrame;
  #state = 'head';  // 'head' | 'frames' | 'ignore'
  #pending = Buffer.alloc(0);
  #skip = 0;  // payload bytes of the current frame still to pass

  constructor(onFrame) {
    this.#onFrame = onFrame;
  }

  /** Returns 'upgraded' when this chunk completed a 101 response head. */
  feed(chunk) {
    let result;
    if (this.#state === 'ignore') return result;
    this.#pending = Buffer.concat([this.#pending, chunk]);
    if (this.#state === 'head') {
      const end = this.#pending.indexOf('\r\n\r\n');
      if (end < 0) return result;
      const statusLine = this.#pending.subarray(0, this.#pending.indexOf('\r\n')).toString('latin1');
      if (!/^HTTP\/1\.1 101 /.test(statusLine)) {
        this.#state = 'ignore';
        this.#pending = Buffer.alloc(0);
        return result;
      }
      this.#state = 'frames';
      this.#pending = this.#pending.subarray(end + 4);
      result = 'upgraded';
    }
    this.#parseFrames();
    return result;
  }

  #parseFrames() {
    for (;;) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, this.#pending.length);
        this.#skip -= n;
        this.#pending = this.#pending.subarray(n);
        if (this.#skip > 0) return;
      }
      const p = this.#pending;
      if (p.length < 2) return;
      const masked = (p[1] & 0x80) !== 0;
      let length = p[1] & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (p.length < 4) return;
        length = p.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (p.length < 10) return;
        length = Number(p.readBigUInt64BE(2));
        offset = 10;
      }
      if (masked) offset += 4;  // a server must not mask; counted anyway so parsing stays aligned
      if (p.length < offset) return;
      this.#onFrame((p[0] & 0x80) !== 0, (p[0] & 0x40) !== 0, p[0] & 0x0f, length);
      this.#pending = p.subarray(offset);
      this.#skip = length;
    }
  }
}
