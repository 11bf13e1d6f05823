/**
 * A real ioredis client with faults injected into chosen commands, for the timing windows that no real
 * outage opens on demand: a command that reaches Redis late (`delay`), a reply that comes back late
 * (`delayReply`: the command runs at once, in order with the others on its connection), a command that fails
 * without being sent (`fail`). Everything else goes straight to the real client. Its duplicates (the
 * engine's subscriber connection) are wrapped too, with the same faults, and may get options of their own.
 *
 * @example
 * const faulty = withFaults(redis.client());
 * const late = faulty.inject({ command: 'set', when: (args) => args.includes('NX'), delay: 300 });
 * const engine = redis.engine({ client: faulty.client, commandTimeout: 100 });
 * await late.settled; // the late SET has been answered
 */
import type Redis from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { sleep } from './sleep';

export interface Fault {
  /**
   * The client method: `get`, `mget`, `set`, `pttl`, `psubscribe`, `memolockStoreAndRelease`, ..., or
   * `exec` for a pipeline's.
   */
  command: string;
  /** Only the calls whose arguments match; every call of `command` when absent. */
  when?: (args: unknown[]) => boolean;
  /** Sends the command this many ms late. */
  delay?: number;
  /** Sends the command at once, and hands its reply over this many ms late. */
  delayReply?: number;
  /** Rejects with this error without sending anything. */
  fail?: Error;
  /** How many matching calls are affected; all of them when absent. */
  times?: number;
}

export interface InjectedFault {
  /** Matching calls affected so far. */
  readonly hits: number;
  /** Settles once the first affected call has been answered (or has failed), delays included. */
  readonly settled: Promise<void>;
  remove(): void;
}

export interface FaultyClient {
  /** The client to hand to the engine. */
  readonly client: Redis;
  /** Every method called on the client and its duplicates so far (`get`, `psubscribe`, `on`, ...), in order. */
  readonly calls: string[];
  inject(fault: Fault): InjectedFault;
  /** Removes every fault. */
  clear(): void;
}

interface Active {
  fault: Fault;
  hits: number;
  settle(): void;
}

export function withFaults(real: Redis, duplicateOptions: RedisOptions = {}): FaultyClient {
  const active: Active[] = [];
  const calls: string[] = [];
  const affecting = (command: string, args: unknown[]) => {
    const found = active.find(
      (a) =>
        a.fault.command === command &&
        (a.fault.times === undefined || a.hits < a.fault.times) &&
        (a.fault.when?.(args) ?? true),
    );
    if (found) found.hits++;
    return found;
  };

  const wrap = (target: Redis): Redis =>
    new Proxy(target, {
      get(t, property) {
        if (property === 'duplicate') {
          return (options: RedisOptions = {}) => wrap(t.duplicate({ ...options, ...duplicateOptions }));
        }
        if (property === 'pipeline') {
          return (...args: unknown[]) => {
            calls.push(property);
            return wrapPipeline(t.pipeline(...(args as [])));
          };
        }
        const value = Reflect.get(t, property, t) as unknown;
        if (typeof value !== 'function' || typeof property !== 'string') return value;
        const method = value as (...args: unknown[]) => unknown;
        return (...args: unknown[]) => {
          calls.push(property);
          const fault = affecting(property, args);
          if (!fault) return method.apply(t, args);
          return run(fault, () => method.apply(t, args) as Promise<unknown>);
        };
      },
    });

  /**
   * A pipeline whose `exec` is subject to faults of command `exec`; `when` gets every queued command's name
   * and arguments, flattened (`['get', 'T:I', 'pttl', 'T:I']`).
   */
  const wrapPipeline = (pipeline: ReturnType<Redis['pipeline']>) =>
    new Proxy(pipeline, {
      get(p, property) {
        const value = Reflect.get(p, property, p) as unknown;
        if (property !== 'exec') return value;
        return () => {
          calls.push('exec');
          const queue = (p as unknown as { _queue: Array<{ name: string; args: unknown[] }> })._queue;
          const fault = affecting(
            'exec',
            queue.flatMap((command) => [command.name, ...command.args]),
          );
          if (!fault) return p.exec();
          return run(fault, () => p.exec());
        };
      },
    });

  async function run(a: Active, send: () => Promise<unknown>): Promise<unknown> {
    try {
      if (a.fault.fail) throw a.fault.fail;
      if (a.fault.delay) await sleep(a.fault.delay);
      const reply = send();
      if (!a.fault.delayReply) return await reply;
      const outcome = await reply.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
      await sleep(a.fault.delayReply);
      if ('error' in outcome) throw outcome.error;
      return outcome.value;
    } finally {
      // After the caller has had the reply (a microtask later), so that `settled` means "answered".
      setImmediate(a.settle);
    }
  }

  return {
    client: wrap(real),
    calls,
    inject(fault) {
      let settle!: () => void;
      const settled = new Promise<void>((resolve) => (settle = resolve));
      const entry: Active = { fault, hits: 0, settle };
      active.push(entry);
      return {
        get hits() {
          return entry.hits;
        },
        settled,
        remove: () => {
          if (active.includes(entry)) active.splice(active.indexOf(entry), 1);
        },
      };
    },
    clear: () => void active.splice(0),
  };
}
