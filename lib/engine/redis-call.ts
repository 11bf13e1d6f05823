/**
 * Bounds every Redis command the engine sends. A client with ioredis defaults can hold a command for over a
 * minute while it reconnects; the engine fails fast when the client says it is down, and otherwise gives
 * each command `commandTimeout` ms.
 */
import { setImmediate as atCheckPhase } from 'node:timers';
import type { Cluster, Redis } from 'ioredis';
import { Messages } from '../memolock.messages';
import type { ConnectionState } from './connection-state';
import type { MemoLockClient } from './redis-commands';

/** What a connection's socket offers to hold writes (net.Socket, tls.TLSSocket). */
interface Corkable {
  cork(): void;
  uncork(): void;
}

/** A Redis command failed or did not answer in time. Internal: callers see it per `onRedisError`. */
export class RedisUnavailableError extends Error {
  /**
   * @param answered whether Redis answered (with an error reply such as NOPERM): then Redis is up, and only
   * this command failed.
   */
  constructor(
    message: string,
    cause?: unknown,
    readonly answered = false,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'RedisUnavailableError';
  }
}

const DOWN_STATUSES = new Set(['close', 'reconnecting', 'end', 'disconnecting']);

function unavailable(error: unknown): RedisUnavailableError {
  if (error instanceof RedisUnavailableError) return error;
  const answered = (error as Error | undefined)?.name === 'ReplyError';
  return new RedisUnavailableError(String((error as Error)?.message ?? error), error, answered);
}

/**
 * Resolves or rejects as `promise` does, or rejects with `RedisUnavailableError` after `ms`; tells `state`
 * whether Redis answered.
 */
export function withDeadline<T>(
  promise: Promise<T>,
  ms: number,
  command: string,
  state?: ConnectionState,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      const error = new RedisUnavailableError(Messages.redisCommandTimeout(command, ms));
      state?.unanswered(error.message);
      reject(error);
    }, ms);
    // A reply after the deadline says nothing of Redis's state: counted, a slow Redis would be logged as
    // unavailable and back once per command.
    promise.then(
      (value) => {
        clearTimeout(timer);
        if (!late) state?.answered();
        resolve(value);
      },
      (cause: unknown) => {
        clearTimeout(timer);
        if (late) return;
        const error = unavailable(cause);
        if (error.answered) state?.answered();
        else state?.unanswered(error.message);
        reject(error);
      },
    );
  });
}

/** The engine's connection for commands: the client, its deadline per command, and what is known of it. */
export class RedisLink {
  constructor(
    readonly client: MemoLockClient,
    readonly commandTimeout: number,
    readonly state: ConnectionState,
  ) {}

  /** Whether the client says it is down (commands would fail, or wait for a reconnection). */
  get down(): boolean {
    return DOWN_STATUSES.has(this.client.status);
  }

  /** The socket whose writes are held until the next check phase, if any (see {@link #holdWrites}). */
  #held: { stream: Corkable } | undefined;

  /**
   * Runs `send` unless the client is known to be down, bounded by the command timeout. `urgent`: sends it
   * at once, with whatever is held (a health check's PING times Redis, not the event loop).
   */
  call<T>(command: string, send: () => Promise<T>, urgent = false): Promise<T> {
    if (this.down) return Promise.reject(this.notConnected());
    if (urgent) this.#release();
    else this.#holdWrites();
    let sent: Promise<T>;
    try {
      sent = send();
    } catch (error) {
      return Promise.reject(unavailable(error)); // a command refused before it was sent
    }
    return withDeadline(sent, this.commandTimeout, command, this.state);
  }

  /**
   * Holds the socket's writes until the event loop's next check phase (where `setImmediate` callbacks run),
   * so that what this process's callers send in one turn (the reads, locks and stores of several requests,
   * woken by one chunk of replies) usually leaves in one `writev` and reaches Redis in one read. ioredis
   * writes every command on its own; on the HTTP cold path (bench/http-cpu.ts) holding them cut Redis's CPU
   * per request by about 30% (the app's moved less than the machine's noise). ioredis's
   * `enableAutoPipelining` groups commands as well, but a pipeline per turn cost the app more than it saved.
   * The poll phase does not block while an immediate is pending, so a held command waits for no I/O; and
   * the immediate is Node's own (`node:timers`, taken at load), which a test's fake timers do not stop. What
   * else is sent on a shared client meanwhile is held with it. Standalone and Sentinel clients: a Cluster
   * client writes to a connection per node.
   */
  #holdWrites(): void {
    if (this.#held !== undefined) return;
    const { stream, status, isCluster } = this.client as MemoLockClient & { stream?: Partial<Corkable> };
    const corkable = typeof stream?.cork === 'function' && typeof stream.uncork === 'function';
    if (isCluster || status !== 'ready' || !corkable) return;
    const held = { stream: stream as Corkable };
    held.stream.cork();
    this.#held = held;
    atCheckPhase(() => {
      if (this.#held === held) this.#release();
    });
  }

  /** Sends what is held now. */
  #release(): void {
    const held = this.#held;
    if (held === undefined) return;
    this.#held = undefined;
    held.stream.uncork();
  }

  /**
   * Reads a few keys of one resource at once: one MGET on standalone Redis; on a cluster, where they hash to
   * different slots, a GET each, side by side.
   */
  getMany(keys: string[]): Promise<Array<string | null>> {
    const { client } = this;
    if (!client.isCluster) return this.call('MGET', () => client.mget(keys));
    return Promise.all(keys.map((key) => this.call('GET', () => client.get(key))));
  }

  /** The error of a command not sent because the client is down (and the state change it is). */
  notConnected(): RedisUnavailableError {
    const error = new RedisUnavailableError(Messages.redisNotConnected(this.client.status));
    this.state.unanswered(error.message);
    return error;
  }
}

/**
 * Closes a connection this package opened: QUIT when it is up (bounded by `ms`), otherwise drop it. Never
 * twice: ioredis's disconnect() arms a timer (`disconnectTimeout`) that only the socket's close clears, so
 * on a connection already ended it would hold the process for that long.
 */
export async function closeClient(client: Redis | Cluster, ms: number): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready')
    await withDeadline(client.quit(), ms, 'QUIT').catch(() => client.disconnect());
  else client.disconnect();
}
