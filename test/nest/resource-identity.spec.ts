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
  it('covers the host, the path and the query, with the pairs of plain keys in order', () => {
    expect(httpId({ hostname: 'acme.example.com', url: '/items/1?b=2&a=1' })).toBe(
      'acme.example.com/items/1?a=1&b=2',
    );
    expect(httpId({ hostname: 'a', url: '/b/c' })).not.toBe(httpId({ hostname: 'a/b', url: '/c' }));
  });

  it('keeps the pairs of one key in the order they came, since parsers make a list of them', () => {
    expect(httpId({ hostname: 'h', url: '/x?a=2&b=1&a=1' })).toBe('h/x?a=2&a=1&b=1');
    expect(httpId({ hostname: 'h', url: '/x?a=1&a=2' })).not.toBe(
      httpId({ hostname: 'h', url: '/x?a=2&a=1' }),
    );
  });

  it('never decodes the query: invalid escapes, which decoding would all turn into U+FFFD, stay apart', () => {
    expect(httpId({ hostname: 'h', url: '/q?q=%FF' })).not.toBe(httpId({ hostname: 'h', url: '/q?q=%FE' }));
    expect(httpId({ hostname: 'h', url: '/q?q=%FF' })).toBe('h/q?q=%FF');
    // Two spellings of one value are two ids: more entries, never a shared one.
    expect(httpId({ hostname: 'h', url: '/x?a=%31' })).not.toBe(httpId({ hostname: 'h', url: '/x?a=1' }));
  });

  it('keeps a query as sent when a key could be read as another (escapes, brackets, dots, +)', () => {
    // qs reads `%61=2&a=1` as a: ['2', '1'] and `a=1&%61=2` as a: ['1', '2']: no order is safe to impose.
    for (const url of ['/x?b=1&%61=2&a=1', '/x?b=1&a[]=2&a=1', '/x?b=1&a.c=2&a=1', '/x?b=1&a+c=2']) {
      expect(httpId({ hostname: 'h', url })).toBe(`h${url}`);
    }
  });

  it('escapes a | in the query, so that it never reads as the start of the vary headers', () => {
    const vary = (v: string) => [['x', v]] as const;
    const crafted = httpId({ hostname: 'h', url: '/p?q=1|[["x","a"]]', vary: vary('b') });
    const real = httpId({ hostname: 'h', url: '/p?q=1', vary: vary('a') });
    expect(real).toBe('h/p?q=1|[["x","a"]]');
    expect(crafted).toBe('h/p?q=1%7C[["x","a"]]|[["x","b"]]');
  });

  it('keeps the case of the host: a host param read in another case is another resource', () => {
    expect(httpId({ hostname: 'ACME.example.com', url: '/' })).toBe('ACME.example.com/?');
    expect(httpId({ hostname: 'ACME.example.com', url: '/' })).not.toBe(
      httpId({ hostname: 'acme.example.com', url: '/' }),
    );
  });

  it('drops the port of a hostname that kept it (Fastify 4), as invalidateRoute does with a Host', () => {
    expect(httpId({ hostname: 'acme.example.com:3000', url: '/i' })).toBe(
      httpId({ hostname: 'acme.example.com', url: '/i' }),
    );
    expect(httpId({ hostname: '[::1]:3000', url: '/i' })).toBe(httpId({ hostname: '[::1]', url: '/i' }));
  });

  it('adds the vary headers, absent ones included', () => {
    const en = httpId({ hostname: 'h', url: '/', vary: [['accept-language', 'en']] });
    const none = httpId({ hostname: 'h', url: '/', vary: [['accept-language', undefined]] });
    const empty = httpId({ hostname: 'h', url: '/', vary: [['accept-language', '']] });
    expect(new Set([en, none, empty]).size).toBe(3);
    expect(en).toBe('h/?|[["accept-language","en"]]');
  });

  it('takes the hostname of a Host header without its port, and keeps whatever is not host[:port]', () => {
    expect(hostnameOf('acme.example.com:8080')).toBe('acme.example.com');
    expect(hostnameOf('acme.example.com')).toBe('acme.example.com');
    expect(hostnameOf('[::1]:3000')).toBe('[::1]');
    expect(hostnameOf('::1')).toBe('::1'); // not ''
  });
});
