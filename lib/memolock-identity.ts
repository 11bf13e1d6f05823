/**
 * Resource identity: the one place that decides which calls share a cache entry. The explorer (provider
 * methods), the interceptor (controller handlers) and invalidation all derive ids here, so that the id a
 * call is stored under is the id `invalidate()` drops. Its promise: two calls get the same id only if they
 * are the same resource.
 *
 * - Provider methods: the arguments, encoded injectively with their types. A lone non-empty string is the
 *   id itself (`likes:kristoff`, readable by Go/C# peers) unless it starts with `(`, the mark every other
 *   encoding starts with, so the two can never meet. Values that cannot be identified reject the call.
 * - HTTP: the hostname Nest matches host params against, the path, the query as sent (its pairs sorted
 *   where that cannot change what a parser reads), and the values of the request headers named by `vary`.
 * - Ids over 1024 UTF-8 bytes (the engine's limit) become `(sha256:<hex>)`.
 */
import { createHash } from 'node:crypto';
import { MAX_ID_BYTES } from './engine/validation';
import { MemoLockArgumentError } from './errors';
import { Messages } from './memolock.messages';

/** The first character of every id that is not a lone string argument taken verbatim. */
const ENCODED = '(';

/** The id of a provider method call without a `key`: its arguments, encoded with their types. */
export function argumentsId(args: readonly unknown[]): string {
  const [only] = args;
  if (args.length === 1 && typeof only === 'string' && only.length > 0 && !only.startsWith(ENCODED)) {
    if (fitsVerbatim(only)) return only;
  }
  return shorten(`${ENCODED}${args.map((arg, i) => encode(arg, `argument ${i}`, [])).join(',')})`);
}

/**
 * A value as a string that no value of another type or content shares: strings quoted, numbers bare
 * (`NaN`, `Infinity` and `-0` included), `undefined` and `null` apart, plain objects with sorted keys,
 * `Date`s and objects with `toJSON` named by their class.
 */
export function encode(value: unknown, path: string, ancestors: object[]): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint':
      return `${value}n`;
    case 'boolean':
      return String(value);
    case 'undefined':
      return 'undefined';
    case 'function':
    case 'symbol':
      return refuse(path, `a ${typeof value}`);
  }
  if (value === null) return 'null';
  const object = value as object;
  if (ancestors.includes(object)) return refuse(path, 'a cycle');
  const inner = [...ancestors, object];
  if (Array.isArray(object)) {
    const items = Array.from(object, (item, i) => encode(item, `${path}[${i}]`, inner));
    return `[${items.join(',')}]`;
  }
  if (object instanceof Date) {
    return `Date(${Number.isNaN(object.getTime()) ? 'NaN' : object.toISOString()})`;
  }
  const prototype = Object.getPrototypeOf(object);
  if (prototype === Object.prototype || prototype === null) {
    if (Object.getOwnPropertySymbols(object).length > 0) return refuse(path, 'an object with symbol keys');
    const entries = Object.keys(object)
      .sort()
      .map(
        (k) =>
          `${JSON.stringify(k)}:${encode((object as Record<string, unknown>)[k], `${path}.${k}`, inner)}`,
      );
    return `{${entries.join(',')}}`;
  }
  const name = (prototype.constructor as { name?: string } | undefined)?.name || 'anonymous class';
  const toJSON = (object as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    // The class's own declared identity (URL's href, Decimal's digits), named by the class.
    return `${name}(${encode(toJSON.call(object), `${path}.toJSON()`, inner)})`;
  }
  // Map, Set, RegExp, class instances (with #private fields or not): JSON would make them all `{}`.
  return refuse(path, `a ${name}`);
}

function refuse(path: string, what: string): never {
  throw new MemoLockArgumentError('key', Messages.cannotIdentify(path, what));
}

/** What an HTTP request's default id covers. */
export interface HttpIdentity {
  /** The hostname Nest matches host params (`req.hosts`) against. */
  hostname: string;
  /** The request target: its path and query. */
  url: string;
  /** The request headers named by `vary`, in the order of the names. */
  vary?: ReadonlyArray<readonly [name: string, value: string | string[] | undefined]>;
}

/**
 * The id of an HTTP request: `host/path?query`, then `|` and the `vary` headers when there are any. The
 * route's params are taken from its path and host params from its hostname, so both are covered. Nothing
 * is decoded or case-folded: two spellings of one resource may get two ids, never the reverse (decoding
 * would turn every invalid escape into U+FFFD, which parsers keep apart). The host is percent-encoded, so it
 * never holds a `/`, and loses its port (Nest matches host params without it); the path ends at the first
 * `?`; the query's `|` is escaped, so it never reaches the `vary` part.
 */
export function httpId({ hostname, url, vary = [] }: HttpIdentity): string {
  const q = url.indexOf('?');
  let path = q === -1 ? url : url.slice(0, q);
  if (!path.startsWith('/')) path = `/${path}`;
  const query = canonicalQuery(q === -1 ? '' : url.slice(q + 1)).replaceAll('|', '%7C');
  const host = encodeURIComponent(hostnameOf(hostname));
  let id = `${host}${path}?${query}`;
  if (vary.length > 0) id += `|${JSON.stringify(vary.map(([name, value]) => [name, value ?? null]))}`;
  return shorten(id);
}

/** Query keys that every parser reads as themselves: no escape, `+`, bracket or dot to interpret. */
const PLAIN_KEY = /^[A-Za-z0-9_~-]+$/;

/**
 * The query with its `&`-separated pairs in order of their keys, as sent (`?b=2&a=1` is `?a=1&b=2`). Pairs
 * of one key keep their order (`?a=1&a=2` is the list `[1, 2]`, `?a=2&a=1` another). A query with any key
 * that a parser could read as another (`%61` is `a`, `a[]` joins `a` in qs) stays exactly as sent.
 */
function canonicalQuery(query: string): string {
  const pairs = query.split('&').map((pair) => {
    const eq = pair.indexOf('=');
    return { pair, key: eq === -1 ? pair : pair.slice(0, eq) };
  });
  if (!pairs.every(({ key }) => PLAIN_KEY.test(key))) return query;
  // Array.prototype.sort is stable: pairs of one key stay in the order they came in.
  pairs.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  return pairs.map(({ pair }) => pair).join('&');
}

/**
 * The hostname of a `Host` header value (or of a hostname that kept its port, as Fastify 4 gives it):
 * without its port. Anything that is not `host[:port]` is kept whole.
 */
export function hostnameOf(host: string): string {
  const match = /^(\[[^\]]*\]|[^:[\]]*)(?::\d*)?$/.exec(host);
  return match ? match[1] : host;
}

function fitsVerbatim(id: string): boolean {
  return id.length * 3 <= MAX_ID_BYTES || Buffer.byteLength(id) <= MAX_ID_BYTES;
}

/** Long ids become their SHA-256, marked so that they cannot meet a verbatim string. */
function shorten(id: string): string {
  if (fitsVerbatim(id)) return id;
  return `${ENCODED}sha256:${createHash('sha256').update(id).digest('hex')})`;
}
