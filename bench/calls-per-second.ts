/**
 * What the hit-path benches share: how many calls per second 64 concurrent callers make through one path,
 * on one hot key or on 64 distinct keys, and how their rounds are summed up.
 */

/** Concurrent callers in a hit-path measurement (one key each on distinct keys). */
export const CALLERS = 64;

/** One call of the path measured, for `key`. */
export type Call = (key: string) => Promise<unknown>;
/** One hot key that every caller reads (callers can share reads), or one key per caller (nothing shared). */
export type Shape = 'hot' | 'distinct';

/** Calls per second that {@link CALLERS} callers make through `call`, each calling in a loop for `seconds`. */
export async function callsPerSecond(call: Call, shape: Shape, seconds: number): Promise<number> {
  let calls = 0;
  const until = performance.now() + seconds * 1_000;
  await Promise.all(
    Array.from({ length: CALLERS }, async (_, i) => {
      const key = shape === 'hot' ? 'key' : `key-${i}`;
      while (performance.now() < until) {
        await call(key);
        calls++;
      }
    }),
  );
  return calls / seconds;
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export const fmt = (n: number) => Math.round(n).toLocaleString('en');
