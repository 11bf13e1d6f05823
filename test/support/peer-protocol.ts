/** Messages between a test and a peer process (see peer-process.ts). */
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
}

export interface CallResult {
  ok: boolean;
  value?: unknown;
  error?: { name: string; code?: string; message: string; remoteStatus?: number };
  /** Whether this caller's own computation ran. */
  computed: boolean;
  ms: number;
}

export type PeerMessage =
  | { type: 'ready' }
  | { type: 'computing'; id: string }
  | { type: 'results'; reqId: number; results: CallResult[] };
