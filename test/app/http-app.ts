/** Starts a fixture application over real HTTP on a free loopback port, with Express or Fastify. */
import type { DynamicModule, INestApplication } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';

export type Platform = 'express' | 'fastify';

export interface HttpApp {
  app: INestApplication;
  url: string;
  get(
    path: string,
    headers?: Record<string, string>,
  ): Promise<{ status: number; cacheStatus: string | null; body: any }>;
  request(method: string, path: string, headers?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

export async function startApp(module: DynamicModule, platform: Platform): Promise<HttpApp> {
  const moduleRef = await Test.createTestingModule({ imports: [module] }).compile();
  const app =
    platform === 'fastify'
      ? moduleRef.createNestApplication(new FastifyAdapter())
      : moduleRef.createNestApplication();
  app.useLogger(false);
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  const request = (method: string, path: string, headers: Record<string, string> = {}) =>
    fetch(`${url}${path}`, { method, headers });
  return {
    app,
    url,
    request,
    async get(path, headers) {
      const res = await request('GET', path, headers);
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // a plain-text answer
      }
      return { status: res.status, cacheStatus: res.headers.get('cache-status'), body };
    },
    close: () => app.close(),
  };
}
