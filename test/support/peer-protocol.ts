/** Messages between a test and a peer process (see peer-process.ts). */
import type { Point } from './otel-sdk';

export interface PeerRequest {
  op: 'get';
  tag: string;
  id: string;
  /** Concurrent callers inside the peer. */
  callers: number;
  timeout: number;
  lockTimeout: number;
  /** How long the computation works (ms) before it settles. */
  workMs: number;
  ttl: number;
  value: unknown;
  /** `fail` throws after workMs; `crash` SIGKILLs the peer itself once computing; `ok` returns `value`. */
  behaviour: 'ok' | 'fail' | 'crash';
  onComputeError?: 'reject' | 'retry';
  onRedisError?: 'throw' | 'compute';
  /** Freshness options of the tag (see the README's "Freshness and fail-safe"). */
  grace?: number;
  softTimeout?: number;
  /** `earlyRefresh.beta`, when given (IPC carries JSON, which has no Infinity). */
  beta?: number | 'Infinity';
  failSafeThrottle?: number;
}

export interface CallResult {
  ok: boolean;
  value?: unknown;
  error?: { name: string; code?: string; message: string; remoteStatus?: number };
  /** Whether this caller's own computation ran. */
  computed: boolean;
  /** When it ran (`Date.now()` as it started), if it did. */
  computedAt?: number;
  /** How the value was had (`getResourceWithStatus`). */
  status?: string;
  ms: number;
}

export type PeerMessage =
  | { type: 'ready' }
  | { type: 'computing'; id: string; at: number }
  | { type: 'results'; reqId: number; results: CallResult[] }
  | { type: 'metrics'; reqId: number; points: Point[] };
