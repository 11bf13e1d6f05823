/**
 * A fixture application for the Nest layer's end-to-end tests: controllers and a provider with
 * `@MemoLocked`, and a counter of how often each computation really ran.
 */
import { Readable } from 'node:stream';
import {
  Controller,
  Get,
  Injectable,
  Module,
  NotFoundException,
  Param,
  Post,
  Query,
  StreamableFile,
  type DynamicModule,
} from '@nestjs/common';
import { MemoLocked, MemoLockModule, type MemoLockModuleOptions } from '../../lib';
import { sleep } from '../support/sleep';

/** Counts computations by name, across every app instance of the test process. */
export const computations = new Map<string, number>();
const count = (name: string) => computations.set(name, (computations.get(name) ?? 0) + 1);

@Injectable()
export class LikesService {
  readonly calls: string[] = [];

  @MemoLocked('likes', 60_000, 10_000)
  async likesOf(user: string): Promise<{ user: string; likes: string[] }> {
    this.calls.push(user);
    count(`likes:${user}`);
    await sleep(200);
    return { user, likes: ['redis', 'nest'] };
  }

  @MemoLocked({ tag: 'report', ttl: (r: { final: boolean }) => (r.final ? 60_000 : 50), timeout: 10_000 })
  async report(
    filter: { year: number; region: string },
    final: boolean,
  ): Promise<{ final: boolean; filter: unknown }> {
    count(`report:${JSON.stringify(filter)}`);
    return { final, filter };
  }
}

@Controller()
export class ItemsController {
  constructor(private readonly likes: LikesService) {}

  @Get('items/:id')
  @MemoLocked('items', 60_000, 10_000)
  async item(@Param('id') id: string, @Query('q') q?: string) {
    count(`item:${id}:${q ?? ''}`);
    await sleep(300);
    return { id, q: q ?? null };
  }

  @MemoLocked('items-sync', 60_000, 10_000) // above @Get: route metadata must survive
  @Get('sync/:id')
  sync(@Param('id') id: string) {
    count(`sync:${id}`);
    return `plain ${id}`;
  }

  @Get('missing/:id')
  @MemoLocked('missing', 60_000, 10_000)
  async missing(@Param('id') id: string) {
    count(`missing:${id}`);
    await sleep(300);
    throw new NotFoundException({ message: `no item ${id}`, id });
  }

  @Get('personal/:id')
  @MemoLocked({
    tag: 'personal',
    ttl: 60_000,
    timeout: 10_000,
    key: (_ctx, req) => `${req.headers.authorization}:${req.params.id}`,
  })
  async personal(@Param('id') id: string) {
    count(`personal:${id}`);
    return { id };
  }

  @Post('items/:id')
  @MemoLocked('items-post', 60_000, 10_000)
  async create(@Param('id') id: string) {
    count(`post:${id}`);
    return { created: id };
  }

  @Get('stream/:id')
  @MemoLocked('stream', 60_000, 10_000)
  async stream(@Param('id') id: string) {
    count(`stream:${id}`);
    return new StreamableFile(Readable.from([Buffer.from(`streamed ${id}`)]));
  }

  @Get('likes/:user')
  likesOf(@Param('user') user: string) {
    return this.likes.likesOf(user);
  }
}

@Module({ controllers: [ItemsController], providers: [LikesService] })
export class FixtureFeatureModule {}

export function fixtureModule(memoLock: DynamicModule): DynamicModule {
  return { module: class FixtureAppModule {}, imports: [memoLock, FixtureFeatureModule] };
}

export function forRoot(options: MemoLockModuleOptions): DynamicModule {
  return fixtureModule(MemoLockModule.forRoot({ ...options, isGlobal: true }));
}
