/**
 * `Coalescer` on its own: one flight per resource and handle options in a process, callers joining it, a
 * flight leaving when it no longer takes callers, and close() rejecting everyone. No Redis here.
 */
import { MemoLockClosedError, type MemoLockOptions } from '../../lib';
import { Coalescer } from '../../lib/engine/coalescer';
import { Flight } from '../../lib/engine/flight';
import { resolveEngineDefaults, resolveTagOptions } from '../../lib/engine/resource-codec';

/** A flight that only counts its starts; tests settle it by hand. */
class Flown {
  readonly flight: Flight;
  starts = 0;
  constructor(id: string) {
    this.flight = new Flight('t', id);
  }
  start(): void {
    this.starts++;
  }
}

const defaults = resolveEngineDefaults({}, 'options');
const optionsOf = (options: Partial<MemoLockOptions> = {}, tag = 't') =>
  resolveTagOptions(tag, { lockTimeout: 1_000, ...options }, defaults);

describe('Coalescer', () => {
  let coalescer: Coalescer<Flown>;
  let made: Flown[];
  const create = (id: string) => () => {
    const flown = new Flown(id);
    made.push(flown);
    return flown;
  };
  beforeEach(() => {
    coalescer = new Coalescer<Flown>();
    made = [];
  });

  it('starts one flight per resource, and lets later callers join it', async () => {
    const options = optionsOf();
    const calls = [1, 2, 3].map(() => coalescer.join(options, 'a', 1_000, false, create('a')));
    const other = coalescer.join(options, 'b', 1_000, false, create('b'));
    expect(made).toHaveLength(2);
    expect(made.map((f) => f.starts)).toEqual([1, 1]);
    expect(coalescer.size).toBe(2);
    made[0].flight.resolve('A', 'hit');
    made[1].flight.resolve('B', 'hit');
    expect(await Promise.all([...calls, other])).toEqual(['A', 'A', 'A', 'B']);
  });

  it('coalesces handles whose options are equal, even made apart, and no others', () => {
    const raw = () => optionsOf({ serializer: 'raw' });
    const serializer = { serialize: String, deserialize: String };
    for (const options of [
      optionsOf(),
      optionsOf({ serializer: 'json' }), // the default, said out loud: the same options
      raw(),
      raw(),
      optionsOf({ lockTimeout: 2_000 }),
      optionsOf({ onRedisError: 'throw' }),
      optionsOf({ onComputeError: 'retry' }),
      optionsOf({ maxValueBytes: 1_024 }),
      optionsOf({ serializer }),
      optionsOf({ serializer }),
      optionsOf({ serializer: { ...serializer } }), // another serializer object: other rules, maybe
      optionsOf({}, 'u'),
    ]) {
      void coalescer.join(options, 'id', 1_000, false, create('id')).catch(() => undefined);
    }
    // default (twice), raw (twice), lockTimeout, onRedisError, onComputeError, maxValueBytes, serializer
    // (twice), the other serializer, the other tag
    expect(made).toHaveLength(9);
    coalescer.closeAll();
  });

  it('starts a new flight once the old one is forgotten, and forgets it once only', () => {
    const options = optionsOf();
    void coalescer.join(options, 'a', 1_000, false, create('a')).catch(() => undefined);
    expect(coalescer.forget(options, 'a', made[0])).toBe(true);
    expect(coalescer.forget(options, 'a', made[0])).toBe(false);
    expect(coalescer.size).toBe(0);
    void coalescer.join(options, 'a', 1_000, false, create('a')).catch(() => undefined);
    expect(made).toHaveLength(2);
    // The first flight, long forgotten, cannot take the second one's place out.
    expect(coalescer.forget(options, 'a', made[0])).toBe(false);
    expect(coalescer.size).toBe(1);
    coalescer.closeAll();
  });

  it('never lets a caller join a flight that settled, even one not yet forgotten', async () => {
    const options = optionsOf();
    const first = coalescer.join(options, 'a', 1_000, false, create('a'));
    made[0].flight.resolve('old', 'hit');
    const second = coalescer.join(options, 'a', 1_000, false, create('a'));
    expect(made).toHaveLength(2);
    made[1].flight.resolve('new', 'hit');
    expect(await Promise.all([first, second])).toEqual(['old', 'new']);
  });

  it('closeAll() rejects every caller of every flight with MemoLockClosedError and forgets them', async () => {
    const calls = [
      coalescer.join(optionsOf(), 'a', 10_000, false, create('a')),
      coalescer.join(optionsOf(), 'a', 10_000, true, create('a')),
      coalescer.join(optionsOf({ serializer: 'raw' }), 'b', 10_000, false, create('b')),
    ];
    coalescer.closeAll();
    expect(coalescer.size).toBe(0);
    for (const call of calls) {
      const error = await call.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MemoLockClosedError);
      expect((error as Error).message).toMatch(/while waiting for resource "t:[ab]"/);
    }
  });
});
