/**
 * The first read of every new flight (`GET T:I`), batched: the reads asked for in one turn of the event loop
 * go out together, as one MGET on standalone Redis. Under load a hit costs mostly its socket write and its
 * reply, not its JavaScript, so 64 callers on 64 keys cost one command instead of 64. A lone read is a plain
 * GET. On a cluster every read is a GET of its own (one MGET's keys must share a slot there).
 *
 * Nothing waits longer for it: the batch goes out at the end of the current turn, where each GET would have.
 * Each batch is one command, bounded by the command timeout like any other. Where MGET answers otherwise
 * than GETs would, each key still gets what its GET would have said: a batch Redis refuses (NOPERM for one of
 * its keys) is read again key by key; a key holding something other than a string reads as a miss, as MGET
 * says, and the holder's store then leaves it alone (see `STORE_AND_RELEASE`).
 *
 * A tag with freshness options reads the value's record (`T/meta:I`) with it, in the same batch; a tag
 * without reads `T:I` alone, as before.
 */
import { MemoLockClosedError } from '../errors';
import { Messages } from '../memolock.messages';
import type { RedisLink, RedisUnavailableError } from './redis-call';

/** Who asked for a read, told of its outcome (no promise per read). */
export interface ReadRequester {
  /** `record`: what `T/meta:I` holds, when it was asked for; `undefined` when it was not. */
  valueRead(raw: string | null, record: string | null | undefined): void;
  readFailed(error: unknown): void;
}

/** Stands where a record key sits in a batch, after the requester of its value key. */
const RECORD: ReadRequester = Object.freeze({ valueRead: () => undefined, readFailed: () => undefined });

/** Most keys in one MGET: bounds the time Redis spends on one command and the size of one reply. */
const MAX_BATCH = 512;

export class ValueReader {
  readonly #link: RedisLink;
  #keys: string[] = [];
  #requesters: ReadRequester[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  #closed = false;

  constructor(link: RedisLink) {
    this.#link = link;
  }

  /** Reads `key` (and `recordKey`, when given) for `requester`, with the other reads of this turn. */
  read(key: string, requester: ReadRequester, recordKey?: string): void {
    if (this.#keys.length === 0) process.nextTick(flush, this);
    this.#keys.push(key);
    this.#requesters.push(requester);
    if (recordKey !== undefined) {
      this.#keys.push(recordKey);
      this.#requesters.push(RECORD);
    }
  }

  /** Fails the reads not sent yet, and resolves once the batches under way have settled. */
  async close(): Promise<void> {
    this.#closed = true;
    this.flush();
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
  }

  /** @internal Sends what was asked for since the last batch. */
  flush(): void {
    const keys = this.#keys;
    const requesters = this.#requesters;
    if (keys.length === 0) return;
    this.#keys = [];
    this.#requesters = [];
    if (this.#closed) {
      const error = new MemoLockClosedError(Messages.closed());
      for (const requester of requesters) requester.readFailed(error);
      return;
    }
    const single = keys.length === 1 || this.#link.client.isCluster;
    for (let start = 0; start < keys.length;) {
      if (single) {
        const paired = requesters[start + 1] === RECORD; // a value and its record go together
        this.#get(keys[start], paired ? keys[start + 1] : undefined, requesters[start]);
        start += paired ? 2 : 1;
      } else {
        let end = Math.min(start + MAX_BATCH, keys.length);
        if (requesters[end] === RECORD) end++;
        this.#mget(keys.slice(start, end), requesters.slice(start, end));
        start = end;
      }
    }
  }

  /** One resource's read on its own: a GET (and a GET of its record beside it, when asked for). */
  #get(key: string, recordKey: string | undefined, requester: ReadRequester): void {
    const { client } = this.#link;
    const value = this.#link.call('GET', () => client.get(key));
    if (recordKey === undefined) {
      this.#track(
        value.then(
          (raw) => requester.valueRead(raw, undefined),
          (error: unknown) => requester.readFailed(error),
        ),
      );
      return;
    }
    const record = this.#link.call('GET', () => client.get(recordKey));
    this.#track(
      Promise.all([value, record]).then(
        ([raw, text]) => requester.valueRead(raw, text),
        (error: unknown) => requester.readFailed(error),
      ),
    );
  }

  #mget(keys: string[], requesters: ReadRequester[]): void {
    const { client } = this.#link;
    this.#track(
      this.#link
        .call('MGET', () => client.mget(keys))
        .then(
          (values) => {
            for (let i = 0; i < requesters.length; i++) {
              if (requesters[i + 1] === RECORD) {
                requesters[i].valueRead(values[i], values[i + 1]);
                i++;
              } else requesters[i].valueRead(values[i], undefined);
            }
          },
          (error: RedisUnavailableError) => {
            // Redis refused the batch (NOPERM for one of its keys, say): read resource by resource, so that
            // each read gets its own answer, as it would alone.
            if (error.answered && !this.#closed) {
              for (let i = 0; i < requesters.length; i++) {
                const paired = requesters[i + 1] === RECORD;
                this.#get(keys[i], paired ? keys[i + 1] : undefined, requesters[i]);
                if (paired) i++;
              }
            } else {
              for (const requester of requesters) requester.readFailed(error);
            }
          },
        ),
    );
  }

  #track(batch: Promise<void>): void {
    this.#inFlight.add(batch);
    void batch.finally(() => this.#inFlight.delete(batch));
  }
}

/** The turn's end: one callback for every reader (no closure per batch). */
function flush(reader: ValueReader): void {
  reader.flush();
}
