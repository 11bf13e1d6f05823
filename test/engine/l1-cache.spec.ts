/**
 * `L1Cache` on its own: LRU bounds (entries and bytes, over a sweep of many keys), deadlines from the read's
 * start and the TTL Redis reported, values deep-frozen and shared read-only, and the race guard: a fill whose
 * read began before an invalidation, a flush or the start of tracking is refused. The clock is driven by the
 * test where deadlines are checked; everything else is the real class.
 */
import { freezeData } from '../../lib/engine/deep-freeze';
import { L1Cache, type L1Options, RECENT_INVALIDATIONS, trackedPrefixOf } from '../../lib/engine/l1-cache';

function tracked(options: L1Options = { maxEntries: 1_000 }, clock?: () => number): L1Cache {
  const l1 = new L1Cache(options, clock);
  l1.tracking(['t:', 't/stale:']);
  return l1;
}

const fillNew = (l1: L1Cache, key: string, value: unknown, bytes = 1, ttl = 60_000) =>
  l1.fill(key, l1.beginRead(), value, bytes, ttl);

describe('L1Cache', () => {
  describe('bounds', () => {
    it('keeps at most maxEntries over a sweep of 100k keys, the most recently used ones', () => {
      const l1 = tracked({ maxEntries: 1_000 });
      let largest = 0;
      let refused = 0;
      for (let i = 0; i < 100_000; i++) {
        if (!fillNew(l1, `t:${i}`, i)) refused++;
        if (i % 10 === 0) l1.get('t:0'); // kept warm
        largest = Math.max(largest, l1.size);
      }
      expect(refused).toBe(0);
      expect(largest).toBe(1_000);
      expect(l1.get('t:0')?.value).toBe(0);
      // Besides t:0, the 999 most recent.
      expect(l1.get('t:99999')?.value).toBe(99_999);
      expect(l1.get('t:99001')?.value).toBe(99_001);
      expect(l1.get('t:99000')).toBeUndefined();
    });

    it('keeps at most maxBytes of encoded values, and refuses a value larger than all of them', () => {
      const l1 = tracked({ maxEntries: 1_000_000, maxBytes: 10_000 });
      let largest = 0;
      for (let i = 0; i < 100_000; i++) {
        fillNew(l1, `t:${i}`, `v${i}`, 1 + (i % 97));
        largest = Math.max(largest, l1.bytes);
      }
      expect(largest).toBeLessThanOrEqual(10_000);
      expect(l1.bytes).toBeGreaterThan(9_900);
      expect(fillNew(l1, 't:big', 'x', 10_001)).toBe(false);
      expect(l1.get('t:big')).toBeUndefined();
      expect(fillNew(l1, 't:all', 'x', 10_000)).toBe(true);
      expect(l1.size).toBe(1);
      expect(l1.bytes).toBe(10_000);
    });

    it('evicts the least recently used first, reads counting as uses', () => {
      const l1 = tracked({ maxEntries: 3 });
      for (const k of ['a', 'b', 'c']) fillNew(l1, `t:${k}`, k);
      l1.get('t:a');
      fillNew(l1, 't:d', 'd');
      expect(l1.get('t:b')).toBeUndefined();
      expect(['t:a', 't:c', 't:d'].map((k) => l1.get(k)?.value)).toEqual(['a', 'c', 'd']);
    });

    it('replaces an entry in place, counting its new size', () => {
      const l1 = tracked({ maxEntries: 10 });
      fillNew(l1, 't:a', 'one', 3);
      fillNew(l1, 't:a', 'three', 5);
      expect(l1.size).toBe(1);
      expect(l1.bytes).toBe(5);
      expect(l1.get('t:a')?.value).toBe('three');
    });
  });

  describe('deadlines', () => {
    it("ends an entry at its read's start plus the TTL Redis reported, even if the fill came later", () => {
      let now = 1_000;
      const l1 = tracked({ maxEntries: 10 }, () => now);
      const ticket = l1.beginRead();
      now += 40; // the reply took 40 ms
      expect(l1.fill('t:a', ticket, 'v', 1, 100)).toBe(true);
      expect(l1.get('t:a')?.expiresAt).toBe(1_100);
      now = 1_099;
      expect(l1.get('t:a')?.value).toBe('v');
      now = 1_100;
      expect(l1.get('t:a')).toBeUndefined();
      expect(l1.size).toBe(0); // removed, not only hidden
    });

    it('refuses a value whose TTL ran out while it was read, and any TTL that is not positive', () => {
      let now = 0;
      const l1 = tracked({ maxEntries: 10 }, () => now);
      const ticket = l1.beginRead();
      now = 50;
      expect(l1.fill('t:a', ticket, 'v', 1, 50)).toBe(false);
      for (const ttl of [0, -1, NaN]) expect(l1.fill('t:a', l1.beginRead(), 'v', 1, ttl)).toBe(false);
    });

    it('keeps a key without a TTL until it is invalidated or evicted', () => {
      let now = 0;
      const l1 = tracked({ maxEntries: 10 }, () => now);
      expect(l1.fill('t:a', l1.beginRead(), 'v', 1, Infinity)).toBe(true);
      now = 1e12;
      expect(l1.get('t:a')?.value).toBe('v');
    });
  });

  describe('values', () => {
    it('deep-freezes what it keeps: one caller cannot change what another gets', () => {
      const l1 = tracked();
      fillNew(l1, 't:a', JSON.parse('{"list":[{"n":1}],"nested":{"deep":{"s":"x"}}}'));
      const first = l1.get('t:a')!.value as { list: { n: number }[]; nested: { deep: { s: string } } };
      expect(() => {
        first.list[0].n = 2;
      }).toThrow(TypeError);
      expect(() => first.list.push({ n: 3 })).toThrow(TypeError);
      expect(() => {
        (first.nested as Record<string, unknown>).added = 1;
      }).toThrow(TypeError);
      expect(l1.get('t:a')!.value).toEqual({ list: [{ n: 1 }], nested: { deep: { s: 'x' } } });
    });

    it('refuses values freezing cannot make read-only, and leaves them unfrozen', () => {
      const l1 = tracked();
      class Account {
        #balance = 1;
        credit() {
          return ++this.#balance;
        }
      }
      const values = [new Map([['a', 1]]), { when: new Date() }, [new Set()], new Account(), { f: () => 1 }];
      for (const value of values) {
        expect(fillNew(l1, 't:a', value)).toBe(false);
        expect(Object.isFrozen(value)).toBe(false);
      }
      expect(l1.size).toBe(0);
    });

    it('freezes shared and cyclic plain data once, null-prototype objects included; refuses symbol keys', () => {
      const shared = { n: 1 };
      const cyclic: Record<string, unknown> = { shared, again: shared };
      cyclic.self = cyclic;
      const bare = Object.assign(Object.create(null), { inner: { x: 1 } });
      const symbol = Symbol('s');
      const withSymbol = { [symbol]: { hidden: 1 } };
      for (const value of [cyclic, bare]) expect(freezeData(value)).toBe(true);
      expect(Object.isFrozen(shared) && Object.isFrozen(cyclic) && Object.isFrozen(bare.inner)).toBe(true);
      expect(freezeData(withSymbol)).toBe(false);
      expect(Object.isFrozen(withSymbol) || Object.isFrozen(withSymbol[symbol])).toBe(false);
      expect(freezeData('a string')).toBe(true);
      expect(freezeData(null)).toBe(true);
    });
  });

  describe('the race guard', () => {
    it('refuses a fill whose read began before an invalidation of that key, not of another key', () => {
      const l1 = tracked();
      const before = l1.beginRead();
      l1.invalidate('t:a');
      expect(l1.invalidatedSince('t:a', before)).toBe(true);
      expect(l1.fill('t:a', before, 'old', 1, 1_000)).toBe(false);
      expect(l1.fill('t:b', before, 'fine', 1, 1_000)).toBe(true);
      expect(l1.fill('t:a', l1.beginRead(), 'new', 1, 1_000)).toBe(true);
      expect(l1.get('t:a')?.value).toBe('new');
    });

    it('drops the entry an invalidation names', () => {
      const l1 = tracked();
      fillNew(l1, 't:a', 'v');
      fillNew(l1, 't/stale:a', 'stale');
      l1.invalidate('t:a');
      expect(l1.get('t:a')).toBeUndefined();
      expect(l1.get('t/stale:a')?.value).toBe('stale');
    });

    it('refuses every fill whose read began before a flush, and empties the cache', () => {
      const l1 = tracked();
      fillNew(l1, 't:a', 'v', 3);
      const before = l1.beginRead();
      l1.flush();
      expect(l1.size).toBe(0);
      expect(l1.bytes).toBe(0);
      expect(l1.fill('t:b', before, 'v', 1, 1_000)).toBe(false);
      expect(fillNew(l1, 't:b', 'v')).toBe(true); // tracking goes on after a flush
    });

    it('fills nothing while tracking is off, nor with a read begun before it came back', () => {
      const l1 = tracked();
      fillNew(l1, 't:a', 'v');
      l1.untracked();
      expect(l1.size).toBe(0);
      const during = l1.beginRead();
      expect(l1.fill('t:a', during, 'v', 1, 1_000)).toBe(false);
      l1.tracking(['t:']);
      expect(l1.fill('t:a', during, 'v', 1, 1_000)).toBe(false);
      expect(fillNew(l1, 't:a', 'v')).toBe(true);
      expect(fillNew(l1, 't/stale:a', 'v')).toBe(false); // only prefixes tracked again
    });

    it('fills only keys whose prefix is tracked, and only with reads begun after it was', () => {
      const l1 = new L1Cache({ maxEntries: 10 });
      const early = l1.beginRead();
      expect(fillNew(l1, 'u:a', 'v')).toBe(false);
      l1.tracking(['u:']);
      expect(l1.fill('u:a', early, 'v', 1, 1_000)).toBe(false);
      expect(fillNew(l1, 'u:a', 'v')).toBe(true);
      expect(fillNew(l1, 'ux:a', 'v')).toBe(false);
      expect(fillNew(l1, 'nocolon', 'v')).toBe(false);
    });

    it('refuses, rather than forgets, when more keys are invalidated than it remembers', () => {
      const l1 = tracked();
      const before = l1.beginRead();
      l1.invalidate('t:a');
      for (let i = 0; i < RECENT_INVALIDATIONS; i++) l1.invalidate(`t:other-${i}`);
      // The invalidation of t:a is forgotten: a read begun before it may still not fill.
      expect(l1.fill('t:a', before, 'old', 1, 1_000)).toBe(false);
      expect(l1.fill('t:unrelated', before, 'v', 1, 1_000)).toBe(false);
      expect(fillNew(l1, 't:a', 'new')).toBe(true);
    });
  });

  it('finds the tracked prefix of a key at its first colon', () => {
    expect(trackedPrefixOf('likes:kristoff:2')).toBe('likes:');
    expect(trackedPrefixOf('likes/stale:x')).toBe('likes/stale:');
    expect(trackedPrefixOf('plain')).toBe('');
  });
});
