/**
 * `run-check <command...>`: starts two processes of the app with `command` (REDIS_URL from the
 * environment, and COMPAT_HEALTH=1 where the fixture has terminus), runs the check against them, and stops
 * both. Exit code 0 when everything held.
 */
import { check, checkOptionsFromEnv, spawnApp } from './check.js';

async function main(command: string[]): Promise<void> {
  const redisUrl = process.env.REDIS_URL;
  if (!redisUrl || command.length === 0) throw new Error('usage: REDIS_URL=... run-check <command...>');
  const apps = await Promise.all([spawnApp(command), spawnApp(command)]);
  try {
    await check([apps[0].url, apps[1].url], redisUrl, checkOptionsFromEnv());
  } finally {
    await Promise.all(apps.map((app) => app.stop()));
  }
}

main(process.argv.slice(2)).then(
  () => console.log('compat-check passed'),
  (error: unknown) => {
    console.error('compat-check failed:', error);
    process.exitCode = 1;
  },
);
