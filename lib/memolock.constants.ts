/** Namespaced tokens and metadata keys of the Nest layer. */
export const MEMOLOCKED_METADATA = 'MEMOLOCK:MEMOLOCKED';
/** The Redis connection the module uses, and whether it opened it (and so must close it). */
export const MEMOLOCK_CONNECTION = 'MEMOLOCK:CONNECTION';
/** The cache name this package reports in `Cache-Status` (RFC 9211 §2). */
export const CACHE_STATUS_NAME = 'nestjs-memolock';
