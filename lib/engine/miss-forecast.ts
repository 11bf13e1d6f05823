/**
 * Whether the next first read of a tag is likely to miss, from how that tag's recent first reads went.
 *
 * A first read that hits costs a share of one `MGET` (see value-reader.ts); one that misses is followed by the
 * read-or-lock script, a second round trip. The script alone answers both: the value when there is one, the
 * lock when there is not. So a tag whose reads mostly miss (a new URL per request, keys read once) starts
 * with the script and saves that round trip, and one whose reads mostly hit keeps the batched read, cheaper
 * per hit. A wrong guess only costs time, never correctness: both ways read the same key and take the same
 * lock.
 *
 * The estimate is an exponentially weighted share of misses over about the last {@link WINDOW} first reads
 * of the tag; above one half, misses are expected. A new tag starts by expecting hits.
 */

/** About how many recent first reads the estimate weighs. */
const WINDOW = 16;

export class MissForecast {
  /** The weighted share of misses (0 to 1) by tag. Tags are the application's own: a bounded set. */
  readonly #shares = new Map<string, number>();

  /** Whether the next first read of `tag` is expected to miss. */
  expectsMiss(tag: string): boolean {
    return (this.#shares.get(tag) ?? 0) > 0.5;
  }

  /** Counts one first read of `tag`, a miss or a hit. */
  record(tag: string, missed: boolean): void {
    const share = this.#shares.get(tag) ?? 0;
    this.#shares.set(tag, share + ((missed ? 1 : 0) - share) / WINDOW);
  }
}
