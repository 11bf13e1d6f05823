/**
 * The compatibility matrix (npm run test:compat, part of npm test): the packed package installed into small
 * Nest apps (Nest 10, 11 and 12; CommonJS and ES module; run by node, tsx, Jest and Vitest; ioredis 5 and
 * 6; Node 20.19, 22 and 24), each cell an end-to-end check across two processes on one Redis (see
 * app/check.ts). Also what the tarball holds, and how the package loads from either module system.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startRedis, type TestRedis } from '../support/redis-server';
import {
  BELOW_FLOOR,
  type Cell,
  CELLS,
  cellCommand,
  compileFixture,
  dryInstall,
  exists,
  type Fixture,
  FIXTURE_NAMES,
  fixtureDir,
  hasTerminus,
  installFixture,
  lockedVersion,
  nodeBinary,
  NODE,
  OPTIONAL_PEERS,
  packPackage,
  ROOT,
  run,
  type Run,
} from './matrix';

const SETUP_MS = 15 * 60_000;
const CELL_MS = 3 * 60_000;

const FORMAT: Record<Fixture, string> = {
  'nest10-cjs': 'CommonJS',
  'nest11-cjs': 'CommonJS',
  'nest12-cjs': 'CommonJS',
  'nest12-esm': 'ES module',
};

function runnerLabel(cell: Cell): string {
  switch (cell.runner) {
    case 'node':
      return `node (tsc ${lockedVersion(cell.fixture, 'typescript')})`;
    case 'tsx':
      return `tsx ${lockedVersion(cell.fixture, 'tsx')}`;
    case 'vitest':
      return `Vitest ${lockedVersion(cell.fixture, 'vitest')}`;
    case 'jest':
      return `Jest ${lockedVersion(cell.fixture, 'jest')} (${FORMAT[cell.fixture]})`;
  }
}

/** A cell as the README's support table lists it: Nest, app, runs with, ioredis, terminus (or —), Node. */
export function cellRow(cell: Cell): string[] {
  return [
    lockedVersion(cell.fixture, '@nestjs/core'),
    FORMAT[cell.fixture],
    runnerLabel(cell),
    lockedVersion(cell.fixture, 'ioredis'),
    hasTerminus(cell.fixture) ? lockedVersion(cell.fixture, '@nestjs/terminus') : '—',
    cell.node,
  ];
}

const cellName = (cell: Cell) => {
  const [nest, format, runner, ioredis, terminus, node] = cellRow(cell);
  return `Nest ${nest} · ${format} · ${runner} · ioredis ${ioredis} · terminus ${terminus} · Node ${node}`;
};

/** Progress on stderr, outside Jest's buffered console, so that a long run shows where it is. */
function progress(message: string): void {
  process.stderr.write(`[compat] ${message}\n`);
}

async function timed<T>(label: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await work();
  } finally {
    progress(`${label}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

describe('compatibility matrix', () => {
  let redis: TestRedis;
  let tarball: string;
  const nodes: Record<string, string> = {};
  const compiled = new Map<Fixture, Run>();
  const started = Date.now();

  beforeAll(async () => {
    redis = await startRedis();
    tarball = await timed('npm pack (with prepack build)', packPackage);
    await timed('node binaries', async () => {
      for (const version of [...Object.values(NODE), BELOW_FLOOR]) nodes[version] = await nodeBinary(version);
    });
    // Two installs at a time (2 cores), each compiled as soon as it is installed.
    const queue = [...FIXTURE_NAMES];
    const worker = async () => {
      for (let fixture = queue.shift(); fixture; fixture = queue.shift()) {
        const name = fixture;
        await timed(`install ${name}`, () => installFixture(name, tarball));
        compiled.set(name, await timed(`tsc ${name}`, () => compileFixture(name)));
      }
    };
    await Promise.all([worker(), worker()]);
  }, SETUP_MS);

  afterAll(async () => {
    await redis?.stop();
    progress(`matrix total: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  describe('type checks against the packed declarations', () => {
    it.each(FIXTURE_NAMES)('%s compiles with its own TypeScript', (fixture) => {
      const result = compiled.get(fixture);
      expect(result?.output).toBe('');
      expect(result?.code).toBe(0);
    });
  });

  describe('one computation across two processes', () => {
    it.each(CELLS.map((cell) => [cellName(cell), cell] as const))(
      '%s',
      async (_name, cell) => {
        const { args, env } = cellCommand(cell, nodes[cell.node]);
        const result = await timed(cellName(cell), () =>
          run(args[0], args.slice(1), {
            cwd: fixtureDir(cell.fixture),
            env: { ...env, REDIS_URL: redis.url, CI: 'true' },
            timeoutMs: CELL_MS - 10_000,
          }),
        );
        if (result.code !== 0) throw new Error(`exit code ${result.code}:\n${result.output}`);
        if (cell.runner === 'node' || cell.runner === 'tsx')
          expect(result.output).toContain('compat-check passed');
        else expect(result.output).toMatch(/1 passed/);
      },
      CELL_MS,
    );
  });

  describe('the package', () => {
    const inEsmApp = (node: string, code: string) =>
      run(node, ['--enable-source-maps', '--input-type=module', '-e', code], {
        cwd: fixtureDir('nest12-esm'),
      });

    it('ships both builds, their types and source maps that carry their sources, and nothing else', async () => {
      const listing = await run('tar', ['tzf', tarball], { cwd: ROOT });
      const files = listing.output.trim().split('\n').sort();
      expect(files).toEqual(
        expect.arrayContaining([
          'package/dist/index.cjs',
          'package/dist/index.cjs.map',
          'package/dist/index.mjs',
          'package/dist/index.mjs.map',
          'package/dist/index.d.mts',
          'package/dist/types/index.d.ts',
          'package/package.json',
          'package/README.md',
        ]),
      );
      expect(files.filter((file) => !/^package\/(dist\/|package\.json$|README\.md$)/.test(file))).toEqual([]);
      for (const map of ['index.cjs.map', 'index.mjs.map']) {
        const { sources, sourcesContent } = JSON.parse(
          await readFile(join(fixtureDir('nest12-esm'), 'node_modules/nestjs-memolock/dist', map), 'utf8'),
        );
        expect(sources.length).toBeGreaterThan(10);
        expect(sources.every((source: string) => source.startsWith('../lib/'))).toBe(true);
        expect(sourcesContent.filter((content: unknown) => typeof content === 'string')).toHaveLength(
          sources.length,
        );
      }
    });

    it.each(Object.values(NODE))(
      'Node %s loads one copy whether the app imports or requires it, and shows lib/ in stack traces',
      async (version) => {
        const result = await inEsmApp(
          nodes[version],
          `
          import { createRequire } from 'node:module';
          import * as imported from 'nestjs-memolock';
          const required = createRequire(import.meta.url)('nestjs-memolock');
          if (imported.MemoLockModule !== required.MemoLockModule) throw new Error('two copies');
          try { new imported.RedisMemoLockEngine({}); } catch (error) { console.log(error.stack); }
          `,
        );
        expect(result.output).toContain('MemoLockArgumentError');
        expect(result.output).toMatch(/nestjs-memolock\/lib\/engine\/redis-memolock\.engine\.ts:\d+:\d+/);
        expect(result.output).not.toContain('NESTJS_MEMOLOCK_DUPLICATE');
        expect(result.code).toBe(0);
      },
    );

    it('loads, in both builds, and runs an engine in a fixture without any optional peer installed', async () => {
      const bare = FIXTURE_NAMES.filter((fixture) => !hasTerminus(fixture));
      expect(bare).toEqual(['nest11-cjs']);
      for (const peer of OPTIONAL_PEERS) {
        expect(await exists(join(fixtureDir('nest11-cjs'), 'node_modules', peer))).toBe(false);
      }
      // Each build loaded the way it is meant to be, in a process of its own (require() of the CommonJS file,
      // import of the ES module), and one engine call: the engine is where @opentelemetry/api is looked for.
      const engineCall = (name: string) => `
        const client = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: 1 });
        const engine = new RedisMemoLockEngine({ client });
        engine.memoLock('compat-bare', { lockTimeout: 5_000 })
          .getResource('${name}', 5_000, async () => ({ value: { build: '${name}' }, ttl: 60_000 }))
          .then((value) => console.log('bare ${name} ' + JSON.stringify(value)))
          .finally(() => engine.close().then(() => client.quit()));
      `;
      const cwd = fixtureDir('nest11-cjs');
      const builds = {
        cjs: await run(
          nodes[NODE.v22],
          [
            '-e',
            `const { RedisMemoLockEngine } = require(require.resolve('nestjs-memolock').replace(/index\\.mjs$/, 'index.cjs'));
             const { Redis } = require('ioredis');
             ${engineCall('cjs')}`,
          ],
          { cwd, env: { REDIS_URL: redis.url } },
        ),
        mjs: await run(
          nodes[NODE.v22],
          [
            '--input-type=module',
            '-e',
            `import { RedisMemoLockEngine } from 'nestjs-memolock';
             import { Redis } from 'ioredis';
             ${engineCall('mjs')}`,
          ],
          { cwd, env: { REDIS_URL: redis.url } },
        ),
      };
      expect(builds.cjs.output.trim()).toBe('bare cjs {"build":"cjs"}');
      expect(builds.mjs.output.trim()).toBe('bare mjs {"build":"mjs"}');
      expect([builds.cjs.code, builds.mjs.code]).toEqual([0, 0]);
    });

    it('warns once when a tool loads the CommonJS build beside the ES module one', async () => {
      const result = await inEsmApp(
        nodes[NODE.floor],
        `
        import { createRequire } from 'node:module';
        import * as imported from 'nestjs-memolock';
        const require = createRequire(import.meta.url);
        const cjs = require(require.resolve('nestjs-memolock').replace(/index\\.mjs$/, 'index.cjs'));
        if (imported.MemoLockModule === cjs.MemoLockModule) throw new Error('expected two copies');
        try { new cjs.RedisMemoLockEngine({}); } catch (error) { console.log(error.stack); }
        `,
      );
      expect(result.output.match(/NESTJS_MEMOLOCK_DUPLICATE/g)).toHaveLength(1);
      expect(result.output).toMatch(/nestjs-memolock\/lib\/engine\/redis-memolock\.engine\.ts:\d+:\d+/);
      expect(result.code).toBe(0);
    });
  });

  describe('on unsupported versions', () => {
    const peers = ['@nestjs/common@11', '@nestjs/core@11', 'reflect-metadata@0.2', 'rxjs@7'];

    it('npm refuses ioredis 4 (ERESOLVE)', async () => {
      const result = await dryInstall(tarball, [...peers, 'ioredis@4']);
      expect(result.code).not.toBe(0);
      expect(result.output).toContain('ERESOLVE');
      expect(result.output).toMatch(/peer ioredis@"\^5\.4\.0 \|\| \^6\.0\.0" from nestjs-memolock/);
    });

    it('npm refuses Nest 9 (ERESOLVE)', async () => {
      const result = await dryInstall(tarball, ['@nestjs/common@9', '@nestjs/core@9', 'rxjs@7', 'ioredis@6']);
      expect(result.code).not.toBe(0);
      expect(result.output).toContain('ERESOLVE');
      expect(result.output).toMatch(/peer @nestjs\/common@"[^"]+" from nestjs-memolock/);
    });

    it('npm refuses @nestjs/terminus 10 (ERESOLVE)', async () => {
      const nest10 = ['@nestjs/common@10', '@nestjs/core@10', 'reflect-metadata@0.2', 'rxjs@7', 'ioredis@6'];
      const result = await dryInstall(tarball, [...nest10, '@nestjs/terminus@10']);
      expect(result.code).not.toBe(0);
      expect(result.output).toContain('ERESOLVE');
      expect(result.output).toMatch(
        /peerOptional @nestjs\/terminus@"\^11\.0\.0 \|\| \^12\.0\.0" from nestjs-memolock/,
      );
    });

    it(`npm warns (EBADENGINE) on Node ${BELOW_FLOOR}, below the floor`, async () => {
      const result = await dryInstall(tarball, [...peers, 'ioredis@6'], nodes[BELOW_FLOOR]);
      expect(result.output).toMatch(/EBADENGINE[\s\S]*nestjs-memolock[\s\S]*v20\.18\.3/);
      expect(result.code).toBe(0);
    });

    it(`a Nest 12 CommonJS app fails on Node ${BELOW_FLOOR} in its own require() of Nest (ERR_REQUIRE_ESM)`, async () => {
      const result = await run(nodes[BELOW_FLOOR], ['dist/main.js'], {
        cwd: fixtureDir('nest12-cjs'),
        env: { REDIS_URL: redis.url, PORT: '0' },
        timeoutMs: 30_000,
      });
      expect(result.code).not.toBe(0);
      expect(result.output).toMatch(
        /ERR_REQUIRE_ESM[\s\S]*@nestjs\/common\/index\.js from .*dist\/app\.module\.js/,
      );
    });

    it(`Jest in CommonJS mode cannot load Nest 12 itself on Node ${NODE.v22} (its require() of ES modules needs 24.9+)`, async () => {
      const cell: Cell = { fixture: 'nest12-cjs', node: NODE.v22, runner: 'jest' };
      const { args, env } = cellCommand(cell, nodes[NODE.v22]);
      const result = await run(args[0], args.slice(1), {
        cwd: fixtureDir('nest12-cjs'),
        env: { ...env, REDIS_URL: redis.url, CI: 'true' },
        timeoutMs: 60_000,
      });
      expect(result.code).not.toBe(0);
      expect(result.output).toMatch(/Must use import to load ES Module: .*node_modules\/@nestjs\//);
    });
  });

  it("the README's support table lists every cell", async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const rows = readme
      .split('\n')
      .filter((line) => line.startsWith('|'))
      .map((line) =>
        line
          .split('|')
          .slice(1, -1)
          .map((cell) => cell.trim()),
      );
    const missing = CELLS.map(cellRow).filter(
      (row) => !rows.some((candidate) => JSON.stringify(candidate) === JSON.stringify(row)),
    );
    expect(missing.map((row) => `| ${row.join(' | ')} |`)).toEqual([]);
  });
});
