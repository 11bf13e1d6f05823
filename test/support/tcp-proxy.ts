/**
 * A TCP proxy on a free loopback port in front of a real server, that can stop carrying bytes while
 * keeping every connection open (`stall()`): what a network cut without a reset looks like to both ends.
 */
import { createServer, type Server, type Socket, connect } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** Holds every byte in both directions from now on; connections stay open. */
  stall(): void;
  /** Carries bytes again (what was held is dropped, as a cut network would). */
  resume(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let stalled = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (data) => stalled || upstream.write(data));
    upstream.on('data', (data) => stalled || client.write(data));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    port,
    stall: () => void (stalled = true),
    resume: () => void (stalled = false),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
