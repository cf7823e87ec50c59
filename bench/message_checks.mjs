// What bench/ws_client.mjs makes of each message it receives, apart from any socket: the two
// leading numbers of a benchmark payload (bench/bench_payload.h: "<seq> <sent_ns> " then padding),
// the verdict on a connection's sequence (seq from 0, in order: duplicates, gaps, messages beyond
// --expect) and the latency histogram. Each mirrors the loadgen's (ParseBenchPayload,
// BenchClient::OnMessage, LatencyHistogram in bench/loadgen.cc), so the two clients' numbers mean
// the same thing. Pure code, no I/O; the client calls it from its one event loop.

// loadgen.cc's LatencyHistogram: 1 us resolution, exact below 128 us, then 64 buckets per power
// of two (at most 1.6% relative width) up to 2^36 us; larger values land in the last bucket.
// Fixed memory, no per-sample storage.
export class LatencyHistogram {
  static SUB_BUCKET_BITS = 6;
  static LINEAR_END = 2 << LatencyHistogram.SUB_BUCKET_BITS;  // 128
  static OCTAVES = 30;
  static BUCKETS = LatencyHistogram.LINEAR_END +
                   LatencyHistogram.OCTAVES * (LatencyHistogram.LINEAR_END / 2);

  counts = new Float64Array(LatencyHistogram.BUCKETS);
  count = 0;
  sumNanos = 0;
  maxNanos = 0;

  record(nanos) {
    if (nanos < 0) nanos = 0;
    this.counts[LatencyHistogram.bucketOf(Math.floor(nanos / 1000))] += 1;
    this.count += 1;
    this.sumNanos += nanos;
    if (nanos > this.maxNanos) this.maxNanos = nanos;
  }

  static bucketOf(micros) {
    const linearEnd = LatencyHistogram.LINEAR_END;
    if (micros < linearEnd) return micros;
    if (micros < 2 ** 31) {  // the usual case, in 32-bit integer operations
      const shift = 32 - Math.clz32(micros) - (LatencyHistogram.SUB_BUCKET_BITS + 1);
      return linearEnd + (shift - 1) * (linearEnd / 2) + ((micros >>> shift) - linearEnd / 2);
    }
    const bitWidth = Math.floor(Math.log2(micros)) + 1;
    const shift = Math.min(bitWidth - (LatencyHistogram.SUB_BUCKET_BITS + 1),
                           LatencyHistogram.OCTAVES);
    const mantissa = Math.min(Math.floor(micros / 2 ** shift), linearEnd - 1);  // [64, 128)
    return linearEnd + (shift - 1) * (linearEnd / 2) + (mantissa - linearEnd / 2);
  }

  static highestMicrosOf(bucket) {
    const linearEnd = LatencyHistogram.LINEAR_END;
    if (bucket < linearEnd) return bucket;
    const shift = Math.floor((bucket - linearEnd) / (linearEnd / 2)) + 1;
    const mantissa = ((bucket - linearEnd) % (linearEnd / 2)) + linearEnd / 2;
    return (mantissa + 1) * 2 ** shift - 1;
  }

  // The highest value (us) equivalent to the sample at `fraction` (0..1] of the distribution,
  // capped at the maximum; 0 without samples.
  percentileMicros(fraction) {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.floor(fraction * this.count + 0.999999));
    let seen = 0;
    for (let i = 0; i < this.counts.length; ++i) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(LatencyHistogram.highestMicrosOf(i), this.maxMicros());
    }
    return this.maxMicros();
  }
  maxMicros() { return this.maxNanos / 1000; }
  meanMicros() { return this.count === 0 ? 0 : this.sumNanos / 1000 / this.count; }
}

// What every client of a run received, as loadgen's ReceiveStats (one per process here).
export class ReceiveStats {
  received = 0;
  duplicates = 0;
  gaps = 0;
  missing = 0;
  unparsed = 0;
  beyondExpected = 0;  // messages with seq >= --expect
  closedEarly = 0;
  closeCodes = new Map();
  firstReceiveNs = 0n;  // process.hrtime.bigint(); 0n: nothing received yet
  lastReceiveNs = 0n;
  latency = new LatencyHistogram();
}

const SPACE = 0x20;
const ZERO = 0x30;
const MINUS = 0x2d;

// The seq and sent_ns of a benchmark message (bytes: a Buffer or Uint8Array), read from its first
// bytes only, into `out` (no allocation per message); null when it is not one. sent_ns is a
// double: exact below 2^53 ns (104 days of uptime), within a few ns above.
export function parsePayload(data, out) {
  const end = data.length;
  let i = 0;
  let seq = 0;
  for (; i < end && i < 20; ++i) {
    const digit = data[i] - ZERO;
    if (digit < 0 || digit > 9) break;
    seq = seq * 10 + digit;
  }
  if (i === 0 || i >= end || data[i] !== SPACE) return null;
  let j = i + 1;
  const negative = j < end && data[j] === MINUS;
  if (negative) ++j;
  const digitsStart = j;
  let sent = 0;
  for (; j < end && j - digitsStart < 19; ++j) {
    const digit = data[j] - ZERO;
    if (digit < 0 || digit > 9) break;
    sent = sent * 10 + digit;
  }
  if (j === digitsStart || j >= end || data[j] !== SPACE) return null;
  out.seq = seq;
  out.sentNs = negative ? -sent : sent;
  return out;
}

// One connection's sequence: every seq from 0 to expect-1 once, in order. A flaw (duplicate, gap,
// seq beyond --expect) is counted in the run's ReceiveStats and marks the connection incomplete.
export class SequenceCheck {
  nextSeq = 0;
  received = 0;
  flawed = false;

  // A message that is not a benchmark message: it leaves the connection incomplete.
  takeUnparsed() { ++this.received; }
  // Takes the seq of one message that arrived (`expect` 0: no upper bound).
  take(seq, expect, stats) {
    ++this.received;
    if (expect > 0 && seq >= expect) {
      ++stats.beyondExpected;
      this.flawed = true;
    } else if (seq === this.nextSeq) {
      ++this.nextSeq;
    } else if (seq < this.nextSeq) {
      ++stats.duplicates;
      this.flawed = true;
    } else {
      ++stats.gaps;
      stats.missing += seq - this.nextSeq;
      this.nextSeq = seq + 1;
      this.flawed = true;
    }
  }
  // Every expected message arrived, nothing else: no duplicate, gap, or message that was not one.
  complete(expect) {
    return this.nextSeq === expect && this.received === expect && !this.flawed;
  }
  // Expected messages after the last one that arrived.
  missingAtEnd(expect) { return this.nextSeq < expect ? expect - this.nextSeq : 0; }
}
