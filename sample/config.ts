/** Redis at REDIS_URL when it is set, the in-memory engine otherwise. */
export const redisUrl = process.env.REDIS_URL || undefined;

/** The URL without credentials, for logs. */
export function describeRedis(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return 'REDIS_URL (unparsable)';
  }
}
