/** Starts a fixture application over real HTTP on a free loopback port, with Express or Fastify. */
import { request as httpRequest } from 'node:http';
import type { DynamicModule, INestApplication, LoggerService } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';

export type Platform = 'express' | 'fastify';

export interface HttpAnswer {
  status: number;
  cacheStatus: string | null;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  body: any;
}

export interface HttpApp {
  app: INestApplication;
  url: string;
  /** A GET with any headers, `Host` included (fetch cannot set it). */
  get(path: string, headers?: Record<string, string>): Promise<HttpAnswer>;
  request(method: string, path: string, headers?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Receives every log line of the app (none are printed). */
  logger?: LoggerService;
  /** Runs on the app before it starts listening (e.g. `useGlobalInterceptors`). */
  configure?: (app: INestApplication) => void;
  /** The Fastify adapter to use (a subclass, say), for platform `fastify`. */
  fastify?: FastifyAdapter;
}

/** Log lines by level, for tests that check warnings. */
export function recordingLogger(): LoggerService & { warnings: string[]; errors: string[] } {
  const warnings: string[] = [];
  const errors: string[] = [];
  return {
    warnings,
    errors,
    log: () => undefined,
    warn: (message: unknown) => void warnings.push(String(message)),
    error: (message: unknown) =>
      void errors.push(message instanceof Error ? message.stack! : String(message)),
  };
}

export async function startApp(
  module: DynamicModule,
  platform: Platform,
  options: StartOptions = {},
): Promise<HttpApp> {
  const moduleRef = await Test.createTestingModule({ imports: [module] }).compile();
  const app =
    platform === 'fastify'
      ? moduleRef.createNestApplication(options.fastify ?? new FastifyAdapter())
      : moduleRef.createNestApplication();
  app.useLogger(options.logger ?? false);
  options.configure?.(app);
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  const { port } = new URL(url);
  const request = (method: string, path: string, headers: Record<string, string> = {}) =>
    fetch(`${url}${path}`, { method, headers });
  return {
    app,
    url,
    request,
    get: (path, headers = {}) => httpGet(Number(port), path, headers),
    close: () => app.close(),
  };
}

/** A GET over real HTTP to a loopback port, with any headers (`Host` included, which fetch cannot set). */
export function httpGet(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<HttpAnswer> {
  return new Promise<HttpAnswer>((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, method: 'GET', headers: { connection: 'close', ...headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // a plain-text answer
          }
          const cacheStatus = res.headers['cache-status'];
          resolve({
            status: res.statusCode!,
            cacheStatus: typeof cacheStatus === 'string' ? cacheStatus : null,
            headers: res.headers,
            text,
            body,
          });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}
