/**
 * Making a decoded value safe to hand to every caller of an L1: each object in it frozen, so that no caller
 * can change what another one gets.
 *
 * Only plain data can be made read-only this way: objects whose prototype is `Object.prototype` or `null`,
 * arrays, and primitives, which is everything `JSON.parse` produces and every string the `raw` serializer
 * reads. A `Map`, `Set`, `Date` or typed array keeps its contents in internal slots that `Object.freeze` does
 * not reach (`map.set()` still works on a frozen Map), and a class instance may keep state in `#private`
 * fields; such values are refused, and left untouched, so that the caller can keep them out of the L1.
 */

function isPlainContainer(value: object): boolean {
  const prototype = Object.getPrototypeOf(value);
  if (Array.isArray(value)) return prototype === Array.prototype;
  return prototype === Object.prototype || prototype === null;
}

/**
 * Deep-freezes `value` if it is plain data, and says whether it is now read-only all the way down. When it
 * is not plain data (it holds a Map, a Date, a class instance, a function...), nothing in it is frozen and
 * the answer is `false`. Objects reached twice (shared or cyclic) are handled once.
 *
 * @example
 * const value = JSON.parse(encoded);
 * if (freezeData(value)) l1.fill(key, ticket, value, bytes, ttl); // else serve it without the L1
 */
export function freezeData(value: unknown): boolean {
  if (typeof value === 'function') return false;
  if (typeof value !== 'object' || value === null) return true;
  // Collect first and freeze at the end, so that a refused value is left as it was.
  const found: object[] = [];
  const seen = new Set<object>();
  const stack: object[] = [value];
  while (stack.length > 0) {
    const object = stack.pop()!;
    if (seen.has(object)) continue;
    seen.add(object);
    if (!isPlainContainer(object)) return false;
    found.push(object);
    // Symbol keys too: Object.freeze freezes them, and their values must be frozen as well.
    for (const key of Reflect.ownKeys(object)) {
      const child = (object as Record<string | symbol, unknown>)[key];
      if (typeof child === 'function') return false;
      if (typeof child === 'object' && child !== null) stack.push(child);
    }
  }
  for (const object of found) Object.freeze(object);
  return true;
}
