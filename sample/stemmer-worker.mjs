// The external program of /ext/stemmer/:word. It knows nothing of this package: it stems the word and, with
// Redis, stores and announces the result with plain SET + PUBLISH (the Go/C# MemoLock protocol); without
// Redis it prints the stem. Usage: node stemmer-worker.mjs WORD
import { stemmer } from 'stemmer';
import Redis from 'ioredis';

const word = process.argv[2];
const stem = stemmer(word);
await new Promise((resolve) => setTimeout(resolve, 500)); // pretend this is hard work

if (process.env.REDIS_URL) {
  const redis = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: 1 });
  await redis.set(`stemmer:${word}`, stem, 'PX', 60_000);
  await redis.publish(`stemmer/notif:${word}`, stem);
  await redis.quit();
} else {
  process.stdout.write(`${stem}\n`);
}
