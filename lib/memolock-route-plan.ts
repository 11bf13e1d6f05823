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
/** What `vary` may stand for: request data that is, or comes from, its headers. */
const HEADER_LIKE = new Set<number>([RouteParamtypes.REQUEST, RouteParamtypes.HEADERS]);

export function planRoute(decorated: Decorated): RoutePlan {
  return { ...decorated, bypass: bypassReason(decorated) };
}

function bypassReason({ type, name, options }: Decorated): string | undefined {
  const args: Record<string, { data?: unknown }> = Reflect.getMetadata(ROUTE_ARGS_METADATA, type, name) ?? {};
  const vary = options.vary ?? [];
  const uncovered: string[] = [];
  for (const [key, { data }] of Object.entries(args)) {
    const head = key.slice(0, key.lastIndexOf(':'));
    if (head.endsWith(CUSTOM_ROUTE_ARGS_METADATA)) {
      if (!options.key && vary.length === 0) uncovered.push('a custom parameter decorator');
      continue;
    }
    const paramtype = Number(head);
    if (paramtype === RouteParamtypes.RESPONSE) {
      if (Reflect.getMetadata(RESPONSE_PASSTHROUGH_METADATA, type, name)) continue;
      return 'it writes the response itself with @Res(), which cannot be replayed (use @Res({ passthrough: true }))';
    }
    if (paramtype === RouteParamtypes.NEXT)
      return 'it hands the request on with @Next(), which cannot be replayed';
    if (COVERED.has(paramtype) || options.key) continue;
    if (paramtype === RouteParamtypes.HEADERS && typeof data === 'string') {
      if (!vary.includes(data.toLowerCase())) uncovered.push(`@Headers('${data}') (add it to vary)`);
      continue;
    }
    if (HEADER_LIKE.has(paramtype) && vary.length > 0) continue;
    uncovered.push(NAMES[paramtype] ?? `a route argument of type ${paramtype}`);
  }
  if (uncovered.length === 0) return undefined;
  return `it reads ${uncovered.join(', ')}, which its resource id (host, path, query and vary headers) does not cover; declare vary or a key`;
}
