/**
 * Where a Redis client connects, for the startup log line: host and port (or socket path), database, sentinel
 * group or cluster nodes. Read from the client's options, never from a URL, so that no password or user name
 * can reach the log.
 */
import type { Cluster, Redis } from 'ioredis';

interface NodeAddress {
  host?: string;
  port?: number;
}

function address(node: NodeAddress | string | number): string {
  if (typeof node === 'number') return `127.0.0.1:${node}`;
  if (typeof node === 'string') {
    // `redis://user:pass@host:port/db`, or the same without a scheme, which ioredis accepts as well: only
    // what follows the last `@` (a password may hold `@`, `/` or `?`), up to a path or query.
    const rest = node.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
    return rest.slice(rest.lastIndexOf('@') + 1).split(/[/?#]/)[0];
  }
  return `${node.host ?? '127.0.0.1'}:${node.port ?? 6379}`;
}

/** E.g. `redis 127.0.0.1:6379 db 0`, `sentinels a:26379,b:26379 (mymaster)`, `cluster a:7000,b:7001`. */
export function describeEndpoint(client: Redis | Cluster): string {
  if (client.isCluster) {
    // Private in ioredis's types, and the one place the cluster keeps what it was given.
    const nodes = (client as unknown as { startupNodes?: Array<NodeAddress | string | number> }).startupNodes;
    return `cluster ${(nodes ?? []).map(address).join(',') || '(no startup nodes)'}`;
  }
  const { host, port, path, db, sentinels, name } = (client as Redis).options;
  if (sentinels && sentinels.length > 0) {
    return `sentinels ${sentinels.map((s) => address(s as NodeAddress)).join(',')} (${name ?? 'mymaster'}) db ${db ?? 0}`;
  }
  if (path) return `unix socket ${path} db ${db ?? 0}`;
  return `${host ?? '127.0.0.1'}:${port ?? 6379} db ${db ?? 0}`;
}
