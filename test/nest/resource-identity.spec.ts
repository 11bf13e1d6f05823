/**
 * The resource-identity module on its own: injective, type-aware ids for arguments, and HTTP ids that
 * cover host, path, query and vary headers in a canonical form.
 */
import fc from 'fast-check';
import { MemoLockArgumentError } from '../../lib';
import { argumentsId, hostnameOf, httpId } from '../../lib/memolock-identity';

describe('argumentsId', () => {
  it('keeps a lone non-empty string as the id itself', () => {
    expect(argumentsId(['kristoff'])).toBe('kristoff');
    expect(argumentsId(['["foo",2]'])).toBe('["foo",2]');
  });

  it('marks every other encoding, so none can meet a verbatim string', () => {
    expect(argumentsId(['foo', 2])).toBe('("foo",2)');
    expect(argumentsId([1])).toBe('(1)');
    expect(argumentsId([''])).toBe('("")');
    expect(argumentsId(['(x)'])).toBe('("(x)")');
    expect(argumentsId([])).toBe('()');
    expect(argumentsId([NaN, 1])).toBe('(NaN,1)');
    expect(argumentsId([null, 1])).toBe('(null,1)');
    expect(argumentsId([undefined])).toBe('(undefined)');
    expect(argumentsId([10n, -0, Infinity])).toBe('(10n,-0,Infinity)');
    expect(argumentsId([new Date('2024-01-01T00:00:00Z')])).toBe('(Date(2024-01-01T00:00:00.000Z))');
  });

  it('sorts object keys, so key order is not identity', () => {
    expect(argumentsId([{ b: 1, a: [1, 'x', null] }])).toBe(argumentsId([{ a: [1, 'x', null], b: 1 }]));
  });

  it('hashes ids over 1024 bytes, marked', () => {
    expect(argumentsId(['x'.repeat(1024)])).toBe('x'.repeat(1024));
    expect(argumentsId(['x'.repeat(1025)])).toMatch(/^\(sha256:[0-9a-f]{64}\)$/);
  });

  it('never gives two different argument lists one id (property)', () => {
    const value = fc.oneof(
      fc.string(),
      fc.double(),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.constant(undefined),
      fc.array(fc.oneof(fc.string(), fc.integer()), { maxLength: 3 }),
    );
    fc.assert(
      fc.property(fc.array(value, { maxLength: 3 }), fc.array(value, { maxLength: 3 }), (a, b) => {
        const same = argumentsId(a) === argumentsId(b);
        const equal = JSON.stringify(a.map(tag)) === JSON.stringify(b.map(tag));
        return same === equal;
      }),
    );
  });

  it.each([
    ['a Map', new Map()],
    ['a Set', new Set()],
    ['a RegExp', /x/],
    ['a class instance without toJSON', new (class Point {})()],
    ['a function', () => 1],
    ['a symbol', Symbol('x')],
  ])('refuses %s, asking for a key', (_what, value) => {
    expect(() => argumentsId([value])).toThrow(MemoLockArgumentError);
    expect(() => argumentsId([value])).toThrow(/give @MemoLocked a key function/);
  });
});

/** A value with its type made visible, so that `1` and `'1'`, NaN and null compare apart. */
function tag(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(tag);
  if (typeof v === 'number') return `n:${Object.is(v, -0) ? '-0' : String(v)}`;
  return `${typeof v}:${String(v)}`;
}

describe('httpId', () => {
  it('covers the host, the path and the query, in canonical order', () => {
    expect(httpId({ hostname: 'Acme.example.com', url: '/items/1?b=2&a=1' })).toBe(
      'acme.example.com/items/1?a=1&b=2',
    );
    expect(httpId({ hostname: 'h', url: '/x?a=%31' })).toBe(httpId({ hostname: 'h', url: '/x?a=1' }));
    expect(httpId({ hostname: 'a', url: '/b/c' })).not.toBe(httpId({ hostname: 'a/b', url: '/c' }));
  });

  it('adds the vary headers, absent ones included', () => {
    const en = httpId({ hostname: 'h', url: '/', vary: [['accept-language', 'en']] });
    const none = httpId({ hostname: 'h', url: '/', vary: [['accept-language', undefined]] });
    const empty = httpId({ hostname: 'h', url: '/', vary: [['accept-language', '']] });
    expect(new Set([en, none, empty]).size).toBe(3);
    expect(en).toBe('h/?|[["accept-language","en"]]');
  });

  it('takes the hostname of a Host header without its port', () => {
    expect(hostnameOf('acme.example.com:8080')).toBe('acme.example.com');
    expect(hostnameOf('[::1]:3000')).toBe('[::1]');
  });
});
