/**
 * The response recorder's cookie watch (SPEC §5: a response that sets a cookie is never shared), on real
 * Fastify replies: cookie methods kept aside until the reply is sent (as `@fastify/cookie` does), two
 * recorders on one reply, methods that cannot be hooked, and `Set-Cookie` arrays that grow in place. The
 * child-process e2e test (app-processes.e2e.spec.ts) covers the real `@fastify/cookie` and Express.
 */
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { NotShareableError, ResponseRecorder } from '../../lib/memolock-response';

type Check = (reply: FastifyReply) => void;

/** A Fastify app whose one route runs `check` on the real reply; `setup` decorates the app first. */
async function onReply(check: Check, setup: (app: FastifyInstance) => void = () => undefined) {
  const app = Fastify();
  setup(app);
  let failure: unknown;
  app.get('/', async (_request, reply) => {
    try {
      check(reply);
    } catch (error) {
      failure = error;
    }
    return 'ok';
  });
  await app.inject({ method: 'GET', url: '/' });
  await app.close();
  if (failure) throw failure;
}

/** Like `@fastify/cookie`: the cookie is kept aside and written only when the reply is sent. */
const KEPT = Symbol('kept cookies');
function deferredCookies(app: FastifyInstance, calls: string[] = []) {
  app.decorateReply(KEPT, null);
  app.decorateReply('setCookie', function (this: FastifyReply, name: string) {
    calls.push(name);
    const kept = this as unknown as { [KEPT]: string[] | null };
    (kept[KEPT] ??= []).push(name);
    return this;
  });
}
const setCookie = (reply: FastifyReply, name: string) =>
  (reply as unknown as { setCookie(name: string): unknown }).setCookie(name);

/** Two cookies set before the handler (Fastify keeps them in one array), then the handler's recorder. */
function recordAfterTwoCookies(reply: FastifyReply): ResponseRecorder {
  reply.header('set-cookie', 'a=1');
  reply.header('set-cookie', 'b=2');
  return new ResponseRecorder(reply);
}

const notShareable = (recorder: ResponseRecorder) =>
  expect(() => recorder.capture('body')).toThrow(NotShareableError);

describe('the response recorder watches cookies', () => {
  it('set through a method that keeps them aside until the reply is sent', async () => {
    const calls: string[] = [];
    await onReply(
      (reply) => {
        const recorder = new ResponseRecorder(reply);
        setCookie(reply, 'session');
        recorder.release();
        notShareable(recorder);
        // The method itself ran, once.
        expect(calls).toEqual(['session']);
      },
      (app) => deferredCookies(app, calls),
    );
  });

  it('for every recorder on the reply, when two interceptors wrap one route', async () => {
    await onReply(
      (reply) => {
        const outer = new ResponseRecorder(reply);
        const inner = new ResponseRecorder(reply);
        inner.release();
        const unrelated = new ResponseRecorder(reply);
        unrelated.release();
        setCookie(reply, 'session');
        notShareable(outer);
        expect(inner.capture('body')).toEqual({ status: 200, body: 'body' });
      },
      (app) => deferredCookies(app),
    );
  });

  it('not after the handler: a released recorder shares the response', async () => {
    await onReply(
      (reply) => {
        const recorder = new ResponseRecorder(reply);
        recorder.release();
        setCookie(reply, 'later');
        expect(recorder.capture('body')).toEqual({ status: 200, body: 'body' });
      },
      (app) => deferredCookies(app),
    );
  });

  it('hooking a prototype once, however many apps and replies share it', async () => {
    const calls: string[] = [];
    for (let i = 0; i < 3; i++) {
      await onReply(
        (reply) => {
          const recorder = new ResponseRecorder(reply);
          setCookie(reply, `c${i}`);
          recorder.release();
          notShareable(recorder);
        },
        (app) => deferredCookies(app, calls),
      );
    }
    expect(calls).toEqual(['c0', 'c1', 'c2']);
  });

  it('across two copies of this module in one process (both builds loaded, a hot reload)', async () => {
    type Recorders = typeof import('../../lib/memolock-response');
    let first!: Recorders;
    let second!: Recorders;
    // A module registry of its own for each: two copies, as two builds or a reload would load.
    const load = () => jest.requireActual<Recorders>('../../lib/memolock-response');
    jest.isolateModules(() => (first = load()));
    jest.isolateModules(() => (second = load()));
    expect(second.ResponseRecorder).not.toBe(first.ResponseRecorder);
    await onReply(
      (reply) => {
        new first.ResponseRecorder(reply).release(); // the first copy hooks the prototype
        const hooked = Object.getPrototypeOf(reply).setCookie;
        const recorder = new second.ResponseRecorder(reply);
        // The second copy neither hooks the hook nor shadows it, and is told by it.
        expect(Object.getPrototypeOf(reply).setCookie).toBe(hooked);
        expect(Object.getOwnPropertyDescriptor(reply, 'setCookie')).toBeUndefined();
        setCookie(reply, 'session');
        recorder.release();
        expect(() => recorder.capture('body')).toThrow(second.NotShareableError);
      },
      (app) => deferredCookies(app),
    );
  });

  it('set through a method of the reply itself, shadowed for the handler and put back after', async () => {
    await onReply((reply) => {
      const own = function setCookie() {
        return reply;
      };
      Object.defineProperty(reply, 'setCookie', { value: own, configurable: true, writable: true });
      const recorder = new ResponseRecorder(reply);
      setCookie(reply, 'session');
      recorder.release();
      notShareable(recorder);
      expect(Object.getOwnPropertyDescriptor(reply, 'setCookie')?.value).toBe(own);
    });
  });

  it('set through a method that cannot be hooked on its prototype', async () => {
    await onReply(
      (reply) => {
        const recorder = new ResponseRecorder(reply);
        setCookie(reply, 'session');
        recorder.release();
        notShareable(recorder);
        expect(Object.getOwnPropertyDescriptor(reply, 'setCookie')).toBeUndefined();
      },
      (app) =>
        app.addHook('onRequest', async (_request, reply) => {
          // Fastify makes a reply prototype per app: make its cookie method impossible to replace.
          Object.defineProperty(Object.getPrototypeOf(reply), 'setCookie', {
            value: function () {
              return this;
            },
            configurable: false,
            writable: false,
          });
        }),
    );
  });

  it('added to a Set-Cookie array that was there before the handler (Fastify pushes onto it)', async () => {
    await onReply((reply) => {
      const recorder = recordAfterTwoCookies(reply);
      reply.header('set-cookie', 'c=3');
      recorder.release();
      notShareable(recorder);
    });
  });

  it('and shares a response whose cookies were all set before the handler', async () => {
    await onReply((reply) => {
      const recorder = recordAfterTwoCookies(reply);
      reply.header('content-type', 'text/plain');
      recorder.release();
      expect(recorder.capture('body')).toEqual({
        status: 200,
        headers: { 'content-type': 'text/plain' },
        body: 'body',
      });
    });
  });
});
