/**
 * What a memoized controller handler reads from the request, from Nest's own route-argument metadata, and
 * so whether its default id (host, path, query and `vary` headers) covers everything its answer can depend
 * on. A handler that reads more, or writes the response itself, is bypassed with a warning at startup:
 * never shared on a guess.
 */
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import {
  CUSTOM_ROUTE_ARGS_METADATA,
  RESPONSE_PASSTHROUGH_METADATA,
  ROUTE_ARGS_METADATA,
} from '@nestjs/common/constants';
import type { Decorated } from './memolock.registry';

/** A memoized route: bypassed when `bypass` says why. */
export interface RoutePlan extends Decorated {
  bypass?: string;
}

/** Route arguments the default id covers: params come from the path, host params from the hostname. */
const COVERED = new Set<number>([RouteParamtypes.PARAM, RouteParamtypes.QUERY, RouteParamtypes.HOST]);
/** Decorator names for messages. */
const NAMES: Record<number, string> = {
  [RouteParamtypes.REQUEST]: '@Req()',
  [RouteParamtypes.NEXT]: '@Next()',
  [RouteParamtypes.BODY]: '@Body()',
  [RouteParamtypes.HEADERS]: '@Headers()',
  [RouteParamtypes.SESSION]: '@Session()',
  [RouteParamtypes.FILE]: '@UploadedFile()',
  [RouteParamtypes.FILES]: '@UploadedFiles()',
  [RouteParamtypes.IP]: '@Ip()',
  [RouteParamtypes.RAW_BODY]: '@RawBody()',
};

/** What the explorer knows of the controller, beyond its class. */
export interface ControllerFacts {
  /**
   * Whether Nest makes the controller per request: it, or a provider or enhancer it depends on, is
   * `Scope.REQUEST` (or injects `REQUEST`). Its answer may then depend on any part of the request.
   */
  requestScoped: boolean;
}

export function planRoute(decorated: Decorated, facts: ControllerFacts): RoutePlan {
  return { ...decorated, bypass: bypassReason(decorated, facts) };
}

/**
 * Why the handler is bypassed, if it is. Only a `key` (which sees the whole request) covers what may hold
 * anything: `@Req()`, `@Headers()` without a name, custom parameter decorators (a `@CurrentUser()` a guard
 * filled from an API key), a request-scoped controller. `vary` covers exactly the `@Headers('name')` it
 * names.
 */
function bypassReason({ type, name, options }: Decorated, facts: ControllerFacts): string | undefined {
  const args: Record<string, { data?: unknown }> = Reflect.getMetadata(ROUTE_ARGS_METADATA, type, name) ?? {};
  const vary = options.vary ?? [];
  const uncovered: string[] = [];
  let keyOnly = false;
  for (const [key, { data }] of Object.entries(args)) {
    const head = key.slice(0, key.lastIndexOf(':'));
    const paramtype = Number(head);
    if (paramtype === RouteParamtypes.RESPONSE) {
      if (Reflect.getMetadata(RESPONSE_PASSTHROUGH_METADATA, type, name)) continue;
      return 'it writes the response itself with @Res(), which cannot be replayed (use @Res({ passthrough: true }))';
    }
    if (paramtype === RouteParamtypes.NEXT)
      return 'it hands the request on with @Next(), which cannot be replayed';
    if (options.key || COVERED.has(paramtype)) continue;
    if (head.endsWith(CUSTOM_ROUTE_ARGS_METADATA)) {
      uncovered.push('a custom parameter decorator');
      keyOnly = true;
    } else if (paramtype === RouteParamtypes.HEADERS && typeof data === 'string') {
      if (!vary.includes(data.toLowerCase())) uncovered.push(`@Headers('${data}') (add it to vary)`);
    } else {
      uncovered.push(NAMES[paramtype] ?? `a route argument of type ${paramtype}`);
      keyOnly ||= paramtype === RouteParamtypes.REQUEST || paramtype === RouteParamtypes.HEADERS;
    }
  }
  if (facts.requestScoped && !options.key) {
    return 'its controller is request-scoped (it, or a provider or enhancer it depends on, is Scope.REQUEST or injects REQUEST), so its answer may depend on anything in the request; give @MemoLocked a key that says how it varies';
  }
  if (uncovered.length === 0) return undefined;
  const remedy = keyOnly
    ? "give @MemoLocked a key that says how the answer varies, or read each header it needs with @Headers('name') and list it in vary"
    : 'give @MemoLocked a key that says how the answer varies';
  return `it reads ${uncovered.join(', ')}, which its resource id (host, path, query and vary headers) does not cover; ${remedy}`;
}
