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

/**
 * Deep-freezes `value` if it is plain data, and says whether it is now read-only all the way down. When it
 * is not plain data (it holds a Map, a Date, a class instance, a function, a symbol-keyed property...),
 * nothing in it is frozen and the answer is `false`. Objects reached twice (shared or cyclic) are handled
 * once. Only enumerable properties are followed, which is all that `JSON.parse` makes.
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
  const visit = (child: unknown): boolean => {
    if (typeof child === 'function') return false;
    if (typeof child === 'object' && child !== null) stack.push(child);
    return true;
  };
  while (stack.length > 0) {
    const object = stack.pop()!;
    if (seen.has(object)) continue;
    seen.add(object);
    const prototype = Object.getPrototypeOf(object);
    if (Array.isArray(object)) {
      if (prototype !== Array.prototype) return false;
      for (let i = 0; i < object.length; i++) if (!visit(object[i])) return false;
    } else {
      if (prototype !== Object.prototype && prototype !== null) return false;
      for (const key in object) if (!visit((object as Record<string, unknown>)[key])) return false;
      if (Object.getOwnPropertySymbols(object).length > 0) return false;
    }
    found.push(object);
  }
  for (const object of found) Object.freeze(object);
  return true;
}
