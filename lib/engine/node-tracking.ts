/**
 * Redis client-side caching in broadcast mode on one Redis server: `CLIENT TRACKING ON REDIRECT <id> BCAST
 * PREFIX ...` on one connection of ours, its invalidations redirected to a second connection of ours,
 * subscribed to `__redis__:invalidate`. Redis then reports every change of a key under those prefixes,
 * whoever made it: writes, deletions, expiries, evictions; and a `null` frame for FLUSHALL/FLUSHDB.
 *
 * Why two connections, both ours, both RESP2:
 * - Under RESP3, Redis sends invalidations as `invalidate` push frames, and ioredis 6 drops every push it
 *   does not know (it emits nothing for them). To a redirect target that speaks RESP2 and is subscribed,
 *   Redis sends them as Pub/Sub messages instead, which ioredis 5 and 6 emit as `messageBuffer` with the
 *   keys as an array of Buffers (`null` for a flush). (`message` stringifies that array, joining the keys
 *   with commas: ambiguous, so it is not used.) Both connections speak RESP2 (`protocol: 2`; ioredis 5 has
 *   nothing else) so that the tracked connection's `null` flush frame has the receiver's encoding.
 * - A RESP2 connection in subscribed mode cannot run `CLIENT TRACKING`, and prefixes are added as tags
 *   appear: so the tracked connection is another one, which does nothing else.
 * - The user's client stays as it was (tracking is connection state, and theirs may track for itself), and
 *   the engine's subscriber does not become RESP2 for everyone.
 *
 * Tracking belongs to a connection: whenever either connection drops, this node reports itself down (its
 * changes may go unreported) and sets tracking up again, from scratch, once both are back. A connection
 * that stops answering without closing (a network cut that sends no reset, a stalled host) would drop
 * nothing and report nothing while other clients write: so while tracking is up, both connections are sent
 * a PING every {@link HEARTBEAT_MS}, and one unanswered within the command timeout counts as a drop (both
 * reconnect). Ids are per
 * server, so both connections must reach the same one (through Sentinel, each asks for the master on its
 * own): when they do not, both reconnect before anything is tracked.
 */
import type { Redis, RedisOptions } from 'ioredis';
import { closeClient, type RedisUnavailableError, withDeadline } from './redis-call';

export const INVALIDATION_CHANNEL = '__redis__:invalidate';

/** What a node reports to the tracker. */
export interface NodeTrackingEvents {
  /** Keys that changed on this node, as Redis names them. */
  invalidated(keys: string[]): void;
  /** Every key of this node may have changed (FLUSHALL, FLUSHDB). */
  flushed(): void;
  /** Changes of these prefixes are reported from now on (on top of those tracked already). */
  tracked(prefixes: readonly string[]): void;
  /** Changes may go unreported from now on, until {@link tracked} again. */
  down(reason: string): void;
  /** Setting tracking up failed; `refused` when Redis answered with an error (too old, ACL). */
  failed(reason: string, refused: boolean): void;
}

/** How often each tracking connection is asked for a PING while tracking is up (ms). */
export const HEARTBEAT_MS = 1_000;

/** Retries of a failed setup: quick at first, then every few seconds; slower when Redis refused. */
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5_000;
const REFUSED_RETRY_MS = 30_000;

/**
 * Our connections come back as long as the engine lives (a cluster's node connections otherwise never
 * reconnect, and a user's retryStrategy may give up); while one is down, the node is simply reported down.
 */
function reconnectDelay(times: number): number {
  return Math.min(50 * 2 ** Math.min(times, 6), 2_000) + Math.floor(Math.random() * 100);
}

function connectionOptions(role: string): RedisOptions {
  return {
    protocol: 2,
    lazyConnect: false,
    autoResubscribe: false,
    enableAutoPipelining: false,
    enableOfflineQueue: true,
    maxRetriesPerRequest: 1,
    retryStrategy: reconnectDelay,
    // Nothing to flush on close; ioredis otherwise keeps a 2 s timer when closing a reconnecting socket.
    disconnectTimeout: 50,
    connectionName: `nestjs-memolock:${role}`,
  };
}

function remoteOf(connection: Redis): string {
  const stream = (connection as unknown as { stream?: { remoteAddress?: string; remotePort?: number } })
    .stream;
  return `${stream?.remoteAddress}:${stream?.remotePort}`;
}

function prefixArguments(prefixes: readonly string[]): string[] {
  return prefixes.flatMap((prefix) => ['PREFIX', prefix]);
}

export class NodeTracking {
  readonly #tracked: Redis;
  readonly #receiver: Redis;
  readonly #wanted: () => readonly string[];
  readonly #events: NodeTrackingEvents;
  readonly #commandTimeout: number;
  /** Bumped whenever either connection drops: a setup step that sees it change stops. */
  #generation = 0;
  /** Bumped when the receiver drops: its id and subscription are then to be had again. */
  #receiverGeneration = 0;
  #receiverId: number | undefined;
  #up = false;
  #trackedPrefixes = new Set<string>();
  #syncing = false;
  #again = false;
  #failures = 0;
  #retry: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #pinging = false;
  #closed = false;

  /**
   * @param source a connection to the server (the user's client, or a cluster's node): both connections
   * are its duplicates, with its address, credentials and TLS settings.
   * @param wanted the prefixes to track (Redis names, client key prefix included), read at each setup.
   */
  constructor(
    source: Redis,
    wanted: () => readonly string[],
    events: NodeTrackingEvents,
    commandTimeout: number,
  ) {
    this.#wanted = wanted;
    this.#events = events;
    this.#commandTimeout = commandTimeout;
    this.#tracked = this.#open(source, 'tracking');
    this.#receiver = this.#open(source, 'invalidations');
    this.#receiver.on('messageBuffer', (channel: Buffer, payload: unknown) => {
      if (this.#closed || channel.toString() !== INVALIDATION_CHANNEL) return;
      if (payload === null || payload === undefined) this.#events.flushed();
      else if (Array.isArray(payload)) this.#events.invalidated(payload.map(String));
      else this.#events.invalidated([String(payload)]);
    });
  }

  /** Whether tracking is on here, for the prefixes it reported. */
  get up(): boolean {
    return this.#up;
  }

  /** Whether changes under `prefix` are reported right now. */
  tracks(prefix: string): boolean {
    return this.#up && this.#trackedPrefixes.has(prefix);
  }

  /** Tracks the wanted prefixes not tracked yet (or everything, once both connections are back). */
  sync(): void {
    if (this.#closed) return;
    if (this.#syncing) {
      this.#again = true;
      return;
    }
    this.#syncing = true;
    void this.#syncLoop();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retry);
    clearInterval(this.#heartbeat);
    this.#up = false;
    this.#receiver.removeAllListeners('messageBuffer');
    await Promise.all([
      closeClient(this.#tracked, this.#commandTimeout),
      closeClient(this.#receiver, this.#commandTimeout),
    ]);
  }

  #open(source: Redis, role: string): Redis {
    const connection = source.duplicate(connectionOptions(role));
    let lastError = 'connection closed';
    connection.on('error', (error: Error) => (lastError = error.message));
    connection.on('ready', () => this.sync());
    connection.on('close', () => this.#lost(connection, `${role} connection: ${lastError}`));
    return connection;
  }

  #lost(connection: Redis, reason: string): void {
    if (this.#closed) return;
    this.#generation++;
    if (connection === this.#receiver) {
      this.#receiverGeneration++;
      this.#receiverId = undefined;
    }
    if (!this.#up) return;
    this.#up = false;
    this.#trackedPrefixes = new Set();
    this.#events.down(reason);
  }

  async #syncLoop(): Promise<void> {
    try {
      do {
        this.#again = false;
        await this.#step();
      } while (this.#again && !this.#closed);
    } finally {
      this.#syncing = false;
    }
  }

  #bounded<T>(promise: Promise<T>, command: string): Promise<T> {
    return withDeadline(promise, this.#commandTimeout, command);
  }

  async #step(): Promise<void> {
    const wanted = this.#wanted();
    if (this.#closed || wanted.length === 0) return;
    if (this.#tracked.status !== 'ready' || this.#receiver.status !== 'ready') return; // 'ready' syncs again
    const generation = this.#generation;
    const current = () => !this.#closed && generation === this.#generation;
    try {
      if (this.#receiverId === undefined) {
        // Its own generation: once subscribed (RESP2), it cannot run CLIENT ID again, so its id is kept
        // when only the tracked connection dropped meanwhile.
        const receiverGeneration = this.#receiverGeneration;
        const receiverCurrent = () => !this.#closed && receiverGeneration === this.#receiverGeneration;
        const id = Number(await this.#bounded(this.#receiver.client('ID'), 'CLIENT ID'));
        if (!receiverCurrent()) return;
        await this.#bounded(this.#receiver.subscribe(INVALIDATION_CHANNEL), 'SUBSCRIBE');
        if (!receiverCurrent()) return;
        this.#receiverId = id;
        if (!current()) return;
      }
      if (remoteOf(this.#tracked) !== remoteOf(this.#receiver)) {
        // Two servers (a failover between their connects): the id would name some other client there.
        this.#tracked.disconnect(true);
        this.#receiver.disconnect(true);
        return;
      }
      const redirect = ['TRACKING', 'ON', 'REDIRECT', String(this.#receiverId), 'BCAST'];
      if (!this.#up) {
        // From scratch: a redirect cannot be changed while tracking is on (and tracking may be on still,
        // redirected to the receiver's previous connection).
        await this.#bounded(this.#tracked.call('CLIENT', 'TRACKING', 'OFF'), 'CLIENT TRACKING');
        if (!current()) return;
        await this.#bounded(
          this.#tracked.call('CLIENT', ...redirect, ...prefixArguments(wanted)),
          'CLIENT TRACKING',
        );
        if (!current()) return;
        this.#up = true;
        this.#trackedPrefixes = new Set(wanted);
        this.#failures = 0;
        this.#startHeartbeat();
        this.#events.tracked(wanted);
        return;
      }
      // Never `ON ... BCAST` without a prefix: that would track every key of the server.
      const missing = wanted.filter((prefix) => !this.#trackedPrefixes.has(prefix));
      if (missing.length === 0) return;
      await this.#bounded(
        this.#tracked.call('CLIENT', ...redirect, ...prefixArguments(missing)),
        'CLIENT TRACKING',
      );
      if (!current()) return;
      for (const prefix of missing) this.#trackedPrefixes.add(prefix);
      this.#failures = 0;
      this.#events.tracked(missing);
    } catch (error) {
      if (!current()) return; // the connection dropped: its close said so, and its ready syncs again
      const { message, answered } = error as RedisUnavailableError;
      if (this.#up) {
        // Adding prefixes failed, and may still happen late: start again from scratch, so that what is
        // tracked is known (Redis refuses a prefix added twice).
        this.#up = false;
        this.#trackedPrefixes = new Set();
        this.#events.down(message);
      }
      // A SUBSCRIBE that timed out may still succeed, after which CLIENT ID is refused: reconnect the
      // receiver, to start again from a known state.
      if (this.#receiverId === undefined && !answered) this.#receiver.disconnect(true);
      this.#events.failed(message, answered);
      this.#scheduleRetry(answered);
    }
  }

  #startHeartbeat(): void {
    if (this.#heartbeat || this.#closed) return;
    this.#heartbeat = setInterval(() => this.#beat(), HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  /** Both connections answer a PING in time, or tracking counts as lost and both reconnect. */
  #beat(): void {
    if (!this.#up || this.#pinging || this.#closed) return;
    this.#pinging = true;
    const generation = this.#generation;
    Promise.all([
      this.#bounded(this.#tracked.ping(), 'PING'),
      this.#bounded(this.#receiver.ping(), 'PING'),
    ]).then(
      () => (this.#pinging = false),
      (error: Error) => {
        this.#pinging = false;
        if (this.#closed || generation !== this.#generation) return; // dropped meanwhile: said already
        this.#lost(this.#receiver, `no answer to PING (${error.message})`);
        this.#tracked.disconnect(true);
        this.#receiver.disconnect(true);
      },
    );
  }

  #scheduleRetry(refused: boolean): void {
    if (this.#closed || this.#retry) return;
    const delay = refused ? REFUSED_RETRY_MS : Math.min(RETRY_MIN_MS * 2 ** this.#failures++, RETRY_MAX_MS);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.sync();
    }, delay);
    this.#retry.unref();
  }
}
