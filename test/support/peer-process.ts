/**
 * A separate OS process running the engine against the test's Redis: `node -r tsx/cjs peer-process.ts URL`.
 * It takes requests over IPC, runs them with several concurrent callers, and answers with what each got.
 */
import Redis from 'ioredis';
import { MemoLockRemoteComputationError, RedisMemoLockEngine } from '../../lib';
import { loadOtelApi } from '../../lib/engine/otel-instruments';
import { recordingLogger } from './logger';
import { type OtelSdk, registerOtelSdk } from './otel-sdk';
import type { CallResult, PeerMessage, PeerRequest } from './peer-protocol';

const client = new Redis(process.argv[2], { maxRetriesPerRequest: 1 });
client.on('error', () => undefined);
// State changes (Redis killed by a fault test, say) are the test's business, not the console's.
const engine = new RedisMemoLockEngine({ client, logger: recordingLogger() });
const send = (message: PeerMessage) => process.send!(message);
// Registered after the engine exists, as an app whose telemetry starts late would: it still gets figures.
const otel: OtelSdk | undefined = process.env.MEMOLOCK_PEER_OTEL === '1' ? registerOtelSdk() : undefined;

async function call(request: PeerRequest): Promise<CallResult> {
  const handle = engine.memoLock(request.tag, {
    lockTimeout: request.lockTimeout,
    onComputeError: request.onComputeError,
    onRedisError: request.onRedisError,
    grace: request.grace,
    softTimeout: request.softTimeout,
    earlyRefresh: request.beta === undefined ? undefined : { beta: Number(request.beta) },
    failSafeThrottle: request.failSafeThrottle,
  });
  let computed = false;
  let computedAt: number | undefined;
  const started = Date.now();
  try {
    const { value, status } = await handle.getResourceWithStatus(request.id, request.timeout, async () => {
      computed = true;
      computedAt = Date.now();
      send({ type: 'computing', id: request.id, at: computedAt });
      if (request.behaviour === 'crash') process.kill(process.pid, 'SIGKILL');
      await new Promise((r) => setTimeout(r, request.workMs));
      if (request.behaviour === 'fail')
        throw Object.assign(new Error(`boom in ${process.pid}`), { status: 503 });
      return { value: request.value, ttl: request.ttl };
    });
    return { ok: true, value, status, computed, computedAt, ms: Date.now() - started };
  } catch (e) {
    const error = e as Error & { code?: string };
    return {
      ok: false,
      computed,
      computedAt,
      ms: Date.now() - started,
      error: {
        name: error.name,
        code: error.code,
        message: error.message,
        remoteStatus: e instanceof MemoLockRemoteComputationError ? e.remote.status : undefined,
      },
    };
  }
}

type Incoming = { reqId: number; request: PeerRequest } | { reqId: number; metrics: true } | 'exit';

process.on('message', (message: Incoming) => {
  if (message === 'exit') {
    void engine
      .close()
      .then(() => client.quit())
      .then(() => otel?.stop())
      .then(() => process.exit(0));
    return;
  }
  if ('metrics' in message) {
    void (otel?.collect() ?? Promise.resolve([])).then((points) =>
      send({ type: 'metrics', reqId: message.reqId, points }),
    );
    return;
  }
  const calls = Array.from({ length: message.request.callers }, () => call(message.request));
  void Promise.all(calls).then((results) => send({ type: 'results', reqId: message.reqId, results }));
});

// With the SDK, ready once the engine has loaded the OpenTelemetry API too (a dynamic import, which may take
// longer than the connection on a busy machine): what the test counts then starts at its first call.
const apiLoaded = otel
  ? loadOtelApi().then(() => new Promise((resolve) => setImmediate(resolve)))
  : undefined;
client.once('ready', () => void Promise.resolve(apiLoaded).then(() => send({ type: 'ready' })));
