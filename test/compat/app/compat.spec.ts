/**
 * The check run inside a test runner (Jest in CommonJS or ES module mode, Vitest): one app is built by the
 * runner's own module loader in this process, the other runs as a separate process (COMPAT_PEER, a JSON
 * array: the command of the compiled app), both on REDIS_URL (COMPAT_HEALTH=1: the fixture has terminus).
 */
import { check, checkOptionsFromEnv, spawnApp } from './check.js';
import { startApp } from './app.module.js';

// The runners provide these as globals (Vitest with `globals: true`); declared here so that the file needs
// neither runner's types.
declare const describe: (name: string, body: () => void) => void;
declare const it: (name: string, body: () => Promise<void>, timeout?: number) => void;

describe('nestjs-memolock in a test runner', () => {
  it('computes once across this runner and another process', async () => {
    const redisUrl = process.env.REDIS_URL!;
    const here = await startApp(0);
    const peer = await spawnApp(JSON.parse(process.env.COMPAT_PEER!));
    try {
      await check([`http://127.0.0.1:${here.port}`, peer.url], redisUrl, checkOptionsFromEnv());
    } finally {
      await here.app.close();
      await peer.stop();
    }
  }, 90_000);
});
