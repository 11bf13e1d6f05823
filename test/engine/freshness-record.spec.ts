/**
 * The freshness record on its own (what is stored under `T/meta:I` and at the head of `T/stale:I`), and the
 * two decisions made with it: may a stale copy be served, and does a hit refresh early (XFetch). No Redis.
 */
import {
  mergeFreshness,
  NO_FRESHNESS,
  activeFreshness,
  refreshesEarly,
  servableStale,
} from '../../lib/engine/freshness';
import {
  describes,
  describeValue,
  mayDescribe,
  parseRecord,
  parseStaleCopy,
  staleCopy,
} from '../../lib/engine/freshness-record';

describe('the freshness record', () => {
  it('says when the value expires, how long it took, and which value it describes', () => {
    const text = describeValue('"v1"', 5_000, 123.4, 1_000_000);
    const record = parseRecord(text)!;
    expect(record).toMatchObject({ text, expiresAt: 1_005_000, delta: 124, length: 4 });
    expect(describes(record, '"v1"')).toBe(true);
    expect(describes(record, '"v2"')).toBe(false); // same length, another value
    expect(mayDescribe(record, '"v2"')).toBe(true);
    expect(mayDescribe(record, '"v10"')).toBe(false);
    expect(text).not.toContain('\n');
  });

  it.each([null, undefined, '', 'garbage', '2,1,1,1,x', '1,NaN,1,1,x', '1,1,1', '1,1,-1,1,x', '1,1,1,1.5,x'])(
    'reads %p as no record, never as a crash',
    (text) => {
      expect(parseRecord(text as string)).toBeUndefined();
    },
  );

  it('keeps the stale copy with its record and grace, and refuses a copy whose record does not describe it', () => {
    const record = describeValue('{"a":1}\n2', 1_000, 10);
    const copy = staleCopy(record, 1_500, '{"a":1}\n2');
    expect(parseStaleCopy(copy)).toEqual({
      record: parseRecord(record),
      grace: 1_500,
      encoded: '{"a":1}\n2',
    });
    expect(parseStaleCopy(staleCopy(record, 1_500, '{"a":2}\n2'))).toBeUndefined();
    // The layout before the grace was written into it (record, newline, value) reads as no copy.
    expect(parseStaleCopy(`${record}\n{"a":1}\n2`)).toBeUndefined();
    expect(parseStaleCopy(`${record}\n0\n{"a":1}\n2`)).toBeUndefined();
    expect(parseStaleCopy('no newline')).toBeUndefined();
    expect(parseStaleCopy(null)).toBeUndefined();
  });
});

describe('freshness options', () => {
  it('are off unless a grace or an early refresh is asked for', () => {
    expect(activeFreshness(NO_FRESHNESS)).toBeUndefined();
    expect(
      activeFreshness(mergeFreshness(NO_FRESHNESS, { softTimeout: 100, failSafeThrottle: 5 })),
    ).toBeUndefined();
    expect(activeFreshness(mergeFreshness(NO_FRESHNESS, { earlyRefresh: { beta: 0 } }))).toBeUndefined();
    expect(activeFreshness(mergeFreshness(NO_FRESHNESS, { earlyRefresh: {} }))).toMatchObject({ beta: 1 });
    expect(activeFreshness(mergeFreshness(NO_FRESHNESS, { grace: 1 }))).toMatchObject({
      grace: 1,
      failSafeThrottle: 1_000,
    });
  });

  it('of a call go over the tag’s, one by one', () => {
    const tag = mergeFreshness(NO_FRESHNESS, { grace: 1_000, softTimeout: 50, earlyRefresh: { beta: 2 } });
    expect(mergeFreshness(tag, { grace: 0 })).toEqual({
      grace: 0,
      softTimeout: 50,
      beta: 2,
      failSafeThrottle: 1_000,
    });
  });
});

describe('a stale copy', () => {
  const record = parseRecord(describeValue('"v"', 1_000, 1, 10_000))!; // expires at 11_000

  it('is served within the grace after the ttl, not before the ttl ends (T:I was deleted), not after', () => {
    expect(servableStale(record, 500, 10_999)).toBe(false);
    expect(servableStale(record, 500, 11_000)).toBe(true);
    expect(servableStale(record, 500, 11_500)).toBe(true);
    expect(servableStale(record, 500, 11_501)).toBe(false);
    expect(servableStale(record, 0, 11_000)).toBe(false);
  });
});

describe('XFetch (refreshesEarly)', () => {
  /** How many of `count` values, each `gap` ms from expiry with a 100 ms computation, refresh now. */
  function share(beta: number, gap: number, count = 20_000): number {
    const now = 1_000_000;
    let fired = 0;
    for (let i = 0; i < count; i++) {
      const record = parseRecord(`1,${now + gap},100,${i},x`)!; // distinct records: distinct draws
      if (refreshesEarly(record, beta, now)) fired++;
    }
    return fired / count;
  }

  it('refreshes with probability exp(-gap / (delta * beta)), one draw per value and process', () => {
    expect(share(1, 150)).toBeCloseTo(Math.exp(-1.5), 1);
    expect(share(2, 150)).toBeCloseTo(Math.exp(-0.75), 1);
    expect(share(1, 300)).toBeCloseTo(Math.exp(-3), 1);
    expect(share(0.5, 200)).toBeCloseTo(Math.exp(-4), 1);
    expect(share(1, 5_000)).toBe(0);
    // Within delta of the expiry, always: a refresh started later could not land in time.
    expect(share(1, 100)).toBe(1);
    expect(share(0.01, 50)).toBe(1);
    // The same value decides the same way on every hit: the draw does not depend on the hit rate.
    const record = parseRecord(`1,${1_000_100},100,7,x`)!;
    const first = refreshesEarly(record, 1, 1_000_000);
    for (let i = 0; i < 100; i++) expect(refreshesEarly(record, 1, 1_000_000)).toBe(first);
  });

  it('never refreshes with beta 0, always with beta Infinity (even after a 0 ms computation)', () => {
    expect(share(0, 0)).toBe(0);
    expect(share(Infinity, 1_000_000)).toBe(1);
    expect(refreshesEarly(parseRecord('1,2000000,0,1,x')!, Infinity, 1_000_000)).toBe(true);
  });
});
