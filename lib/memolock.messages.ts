/** Every message this package shows, as small factories, so that wording stays consistent and greppable. */

const where = (tag: string, id: string) => `resource "${tag}:${id}"`;
/** Said of every call MemoLock cannot place: it may have come before MemoLock found the instances. */
const EARLY =
  'A call made from a constructor or a factory, while Nest is still creating instances, is never memoized; calls from onModuleInit on are.';

export const Messages = {
  invalidArgument: (argument: string, expectation: string, got: unknown) =>
    `Invalid argument "${argument}": ${expectation}, got ${describe(got)}.`,
  timeout: (tag: string, id: string, timeout: number) =>
    `Timed out after ${timeout} ms waiting for ${where(tag, id)}.`,
  renewLost: (tag: string, id: string) =>
    `Cannot renew the lock of ${where(tag, id)}: this caller no longer holds it (its lease expired or another caller took it over).`,
  closed: () => 'The MemoLock engine is closed.',
  closedWhileWaiting: (tag: string, id: string) =>
    `The MemoLock engine was closed while waiting for ${where(tag, id)}.`,
  cannotSerialize: (tag: string, id: string, reason: string) =>
    `Cannot serialize the value computed for ${where(tag, id)}: ${reason}.`,
  cannotDeserialize: (tag: string, id: string, reason: string) =>
    `Cannot deserialize the value stored for ${where(tag, id)}: ${reason}.`,
  invalidTtl: (tag: string, id: string, ttl: unknown) =>
    `The computation for ${where(tag, id)} returned an invalid ttl: expected a positive finite number of milliseconds, got ${describe(ttl)}.`,
  invalidResult: (tag: string, id: string, got: unknown) =>
    `The computation for ${where(tag, id)} must resolve to { value, ttl }, got ${describe(got)}.`,
  valueTooLarge: (tag: string, id: string, bytes: number, max: number) =>
    `The value computed for ${where(tag, id)} is ${bytes} bytes once serialized, over maxValueBytes (${max}): it was neither stored nor published.`,
  redisFailed: (tag: string, id: string, reason: string) =>
    `Redis failed while serving ${where(tag, id)}: ${reason}`,
  redisFailedForTag: (tag: string, reason: string) =>
    `Redis failed while dropping every value of tag "${tag}": ${reason}`,
  redisCommandTimeout: (command: string, ms: number) => `Redis did not answer ${command} within ${ms} ms.`,
  redisNotConnected: (status: string) => `the Redis connection is ${status}.`,
  notAString: (key: string) =>
    `the key "${key}" holds something other than a string, which is not overwritten`,
  cannotIdentify: (path: string, what: string) =>
    `Cannot derive a resource id from ${path}: it is ${what}, which has no identity MemoLock can encode; give @MemoLocked a key function.`,
  decoratedTwice: (where: string) => `@MemoLocked on ${where}: the method is decorated twice.`,
  notAsync: (where: string, returned: string) =>
    `@MemoLocked on ${where}: a provider method must return a Promise (declare it async); it ${returned}.`,
  tagShared: (tag: string, pairs: string[]) =>
    `@MemoLocked tag "${tag}" is used by ${pairs.join(', ')}: their calls could share cache entries. Give each its own tag, its own key, or declare shared: true on each if they really are one resource.`,
  noModule: (where: string) =>
    `@MemoLocked on ${where} is not memoized: no MemoLockModule is initialized in this process. Import MemoLockModule.forRoot() in your application module (with redis: 'memory' in unit tests). ${EARLY}`,
  notManaged: (where: string) =>
    `@MemoLocked on ${where} is not memoized for this call: the instance is not one MemoLock found at startup (created with new, or request-scoped). ${EARLY}`,
  notStarted: (where: string) =>
    `@MemoLocked on ${where} is not memoized for this call: it was made before MemoLock started. ${EARLY}`,
  superCall: (declaredOn: string, override: string) =>
    `@MemoLocked on ${declaredOn} is not memoized when ${override}, which overrides it, calls it through super: it runs as written (${override} itself is memoized).`,
  instancesShared: (where: string, type: string, count: number) =>
    `@MemoLocked on ${where}: the application has ${count} instances of ${type} (factory providers, a class provided in several modules, or transient instances), whose calls would share cache entries. Give the method a key that tells the instances apart (it runs with the instance as this, e.g. key(this: ${type}, id: string) { return \`\${this.table}/\${id}\`; }), or declare shared: true if every instance answers the same for the same arguments.`,
  tagRouteAndProvider: (tag: string, routes: string[], providers: string[]) =>
    `@MemoLocked tag "${tag}" is used by the route ${routes.join(', ')} and the provider method ${providers.join(', ')}: a route stores whole HTTP responses and a method plain values, so they can never share entries, key or shared: true notwithstanding. Give them different tags.`,
  requestScoped: (where: string) =>
    `@MemoLocked on ${where} is ignored: the provider is request-scoped. Move the method to a singleton provider.`,
  routeBypassed: (where: string, reason: string) =>
    `@MemoLocked on ${where} is bypassed: ${reason}. Every request runs the handler.`,
  notShared: (where: string, reason: string) =>
    `@MemoLocked on ${where}: ${reason}; this handler is not memoized from now on.`,
  notAResponse: (where: string, tag: string) =>
    `@MemoLocked on ${where}: an entry of tag "${tag}" holds something other than a response this package stored (written by another program?); such requests run the handler and are not memoized.`,
  serializerOrderUnknown: () =>
    "MemoLock cannot see the order of this Nest version's global interceptors, so it cannot make sure that a ClassSerializerInterceptor registered with APP_INTERCEPTOR runs inside its own (where @Exclude() applies before a response is stored). Memoized routes whose handler answers class instances are not shared; register the serializer on the controller (@UseInterceptors) or with app.useGlobalInterceptors() to have them memoized.",
  classInstancesUnverified: () =>
    'the handler answered class instances while the order of the global serializers is unknown (see the startup warning), so an @Exclude() field could be stored and shared',
  unknownBinding: (where: string) =>
    `No @MemoLocked method ${where} in this application (a provider or controller of it, decorated).`,
  routeFailed: (name: string, message: string) =>
    `A memoized route's computation failed with ${name}: ${message} (answered alike in every process: only an HttpException carries its status to the others).`,
  remoteFailure: (tag: string, id: string, message: string) =>
    `The computation of ${where(tag, id)} failed in another process: ${message}`,
  illFormed: (what: string) =>
    `${what} is not well-formed UTF-16 (it holds a lone surrogate): Redis would store it as U+FFFD, and other readers would get another string`,
  redisUnavailable: (reason: string) =>
    `Redis is unavailable (${reason.replace(/\.$/, '')}). Calls compute without the cache or reject, as each tag's onRedisError says, until it answers again.`,
  redisBack: () => 'Redis answers again: calls use the cache.',
  subscriberLost: (reason: string) =>
    `The subscriber connection to Redis was lost (${reason.replace(/\.$/, '')}). Waiters read their keys again once it is back, and still time out as usual meanwhile.`,
  subscriberEnded: () =>
    'The subscriber connection to Redis has ended (its retryStrategy gave up). A new one is opened for the next waiter once Redis answers.',
  subscriberBack: () => 'The subscriber connection to Redis is back.',
  subscriberDown: (status: string) =>
    `The subscriber connection to Redis is ${status}: waiters get no notification until it is back (they still time out as usual).`,
  startedRedis: (endpoint: string) => `MemoLock ready: Redis engine on ${endpoint}.`,
  startedMemory: () => 'MemoLock ready: in-memory engine (this process only, no Redis).',
  listenerFailed: (type: string, reason: string) =>
    `A listener of MemoLock's "${type}" events threw (${reason.replace(/\.$/, '')}); the call it reports on is unaffected.`,
  failSafe: (tag: string, id: string, reason: string, throttle: number) =>
    `The computation of ${where(tag, id)} failed (${reason.replace(/\.$/, '')}): callers get the value at hand instead (fail-safe); the next attempt, fleet-wide, in ${throttle} ms at the earliest.`,
  trackingLost: (reason: string) =>
    `Redis client tracking for the L1 is off (${reason.replace(/\.$/, '')}). The L1 is emptied and keeps nothing until tracking is back; calls read Redis meanwhile.`,
  trackingRefused: (reason: string) =>
    `Redis refused client tracking for the L1 (${reason.replace(/\.$/, '')}): it needs Redis 6 or later and, with ACLs, the CLIENT command. The L1 keeps nothing; calls read Redis.`,
  trackingBack: () => 'Redis client tracking for the L1 is back.',
  trackingTopologyChanged: () => 'the masters of the cluster changed',
};

/** A short, safe description of a value for error messages (never the value itself when it is large). */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') {
    return value.length > 60 ? `a string of ${value.length} characters` : JSON.stringify(value);
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  return `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
}
