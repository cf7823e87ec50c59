// Tests of bench/message_checks.mjs: `node --test bench/message_checks.test.mjs` (no npm packages).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { LatencyHistogram, ReceiveStats, SequenceCheck, parsePayload } from './message_checks.mjs';

const bytes = (text) => Buffer.from(text, 'latin1');

test('parsePayload reads seq and sent_ns from the start of a benchmark payload', () => {
  const out = { seq: -1, sentNs: -1 };
  assert.equal(parsePayload(bytes('42 59924387759231 xxxxxxxx'), out), out);
  assert.deepEqual(out, { seq: 42, sentNs: 59924387759231 });
  assert.deepEqual(parsePayload(bytes('0 1 {"type":"quotes"}'), {}), { seq: 0, sentNs: 1 });
  assert.deepEqual(parsePayload(bytes('7 -5 '), {}), { seq: 7, sentNs: -5 });
});

test('parsePayload rejects what ParseBenchPayload rejects', () => {
  for (const text of ['', 'hello', ' 1 2 ', '1', '1 ', '1 2', '1 x ', 'x1 2 ', '1  2 ', '-1 2 ',
                      '1 - ', '1 2x ']) {
    assert.equal(parsePayload(bytes(text), {}), null, JSON.stringify(text));
  }
});

test('SequenceCheck: every seq once and in order is complete', () => {
  const stats = new ReceiveStats();
  const check = new SequenceCheck();
  for (let seq = 0; seq < 5; ++seq) check.take(seq, 5, stats);
  assert.ok(check.complete(5));
  assert.equal(check.missingAtEnd(5), 0);
  assert.deepEqual([stats.duplicates, stats.gaps, stats.missing, stats.beyondExpected], [0, 0, 0, 0]);
});

test('SequenceCheck: a skipped seq is a gap and the connection is incomplete', () => {
  const stats = new ReceiveStats();
  const check = new SequenceCheck();
  for (const seq of [0, 1, 3, 4]) check.take(seq, 5, stats);
  assert.ok(!check.complete(5));
  assert.deepEqual([stats.gaps, stats.missing], [1, 1]);
});

test('SequenceCheck: a repeated or late seq is a duplicate', () => {
  const stats = new ReceiveStats();
  const check = new SequenceCheck();
  for (const seq of [0, 1, 1, 2, 0, 3, 4]) check.take(seq, 5, stats);
  assert.ok(!check.complete(5));
  assert.equal(stats.duplicates, 2);
  assert.equal(stats.gaps, 0);
});

test('SequenceCheck: a seq beyond --expect, an unparsed message, a short run', () => {
  const stats = new ReceiveStats();
  const beyond = new SequenceCheck();
  for (const seq of [0, 1, 2, 5]) beyond.take(seq, 3, stats);
  assert.ok(!beyond.complete(3));
  assert.equal(stats.beyondExpected, 1);

  const unparsed = new SequenceCheck();
  for (const seq of [0, 1, 2]) unparsed.take(seq, 3, stats);
  unparsed.takeUnparsed();
  assert.ok(!unparsed.complete(3));

  const short = new SequenceCheck();
  short.take(0, 3, stats);
  assert.ok(!short.complete(3));
  assert.equal(short.missingAtEnd(3), 2);
});

test('LatencyHistogram: exact below 128 us, at most 1/64 wide above, capped at the maximum', () => {
  const histogram = new LatencyHistogram();
  for (let us = 1; us <= 100; ++us) histogram.record(us * 1000);
  assert.equal(histogram.percentileMicros(0.5), 50);
  assert.equal(histogram.percentileMicros(0.99), 99);
  assert.equal(histogram.percentileMicros(1), 100);
  assert.equal(histogram.meanMicros(), 50.5);

  for (const us of [128, 1000, 12345, 987654, 3_000_000_000, 2 ** 36]) {
    const one = new LatencyHistogram();
    one.record(us * 1000 + 999);
    one.record(0);
    const p50 = one.percentileMicros(0.5);
    assert.equal(p50, 0);
    const bucket = LatencyHistogram.bucketOf(us);
    const highest = LatencyHistogram.highestMicrosOf(bucket);
    assert.ok(highest >= us, `${us}: bucket top ${highest}`);
    if (us < 2 ** 36) assert.ok(highest - us <= us / 64, `${us}: bucket top ${highest}`);
    assert.equal(one.percentileMicros(1), us + 0.999);
  }
  assert.equal(LatencyHistogram.bucketOf(2 ** 40), LatencyHistogram.BUCKETS - 1);
  histogram.record(-5);  // a clock step backwards counts as 0
  assert.equal(histogram.count, 101);
});

test('LatencyHistogram.bucketOf: the integer fast path agrees with loadgen.cc\'s formula', () => {
  // BucketOf of bench/loadgen.cc, written out in plain arithmetic.
  const reference = (micros) => {
    if (micros < 128) return micros;
    let bitWidth = 0;
    while (2 ** bitWidth <= micros) ++bitWidth;
    const shift = Math.min(bitWidth - 7, 30);
    const mantissa = Math.min(Math.floor(micros / 2 ** shift), 127);
    return 128 + (shift - 1) * 64 + (mantissa - 64);
  };
  for (let micros = 0; micros < 2 ** 34; micros = micros < 70_000 ? micros + 1 : micros * 1.01) {
    const value = Math.floor(micros);
    assert.equal(LatencyHistogram.bucketOf(value), reference(value), `${value} us`);
  }
  for (let bit = 7; bit <= 36; ++bit) {
    for (const value of [2 ** bit - 1, 2 ** bit, 2 ** bit + 1]) {
      assert.equal(LatencyHistogram.bucketOf(value), reference(value), `${value} us`);
    }
  }
});
