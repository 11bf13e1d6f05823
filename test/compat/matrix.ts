/**
 * The compatibility matrix: which fixture app runs on which Node, how, and how each is prepared. The packed
 * tarball (`npm pack`, so `prepack` builds it) is installed into each fixture the way a user installs it,
 * never the source tree. Node binaries come from the npm registry's `node-<platform>-<arch>` packages.
 *
 * Installs are made once per fixture and shared by its cells: they are plain JavaScript (no native addon
 * is built), so the same node_modules is what a user would get on each of the Node versions.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const ROOT = join(__dirname, '../..');
export const WORK = join(ROOT, '.tmp/compat');
const FIXTURES = join(__dirname, 'fixtures');
const APP = join(__dirname, 'app');
/** Copied over the app in the fixtures that install `@nestjs/terminus`: `GET /health`. */
const APP_TERMINUS = join(__dirname, 'app-terminus');

/** The Node versions the matrix runs: the floor of `engines` and the current 22 and 24. */
export const NODE = { floor: '20.19.0', v22: '22.23.3', v24: '24.21.0' } as const;
/** The last Node 20 before require(esm): below `engines`, to show what fails there. */
export const BELOW_FLOOR = '20.18.3';

export type Fixture = 'nest10-cjs' | 'nest11-cjs' | 'nest12-cjs' | 'nest12-esm';
export const FIXTURE_NAMES: Fixture[] = ['nest10-cjs', 'nest11-cjs', 'nest12-cjs', 'nest12-esm'];

/** The package's optional peers: the main entry must load, and the app run, with none of them installed. */
export const OPTIONAL_PEERS = ['@nestjs/terminus', '@opentelemetry/api', '@nestjs/event-emitter'];

/** Whether a fixture installs `@nestjs/terminus` (its package.json says so): its app then has `GET /health`. */
export function hasTerminus(fixture: Fixture): boolean {
  const pkg = JSON.parse(readFileSync(join(FIXTURES, fixture, 'package.json'), 'utf8'));
  return '@nestjs/terminus' in (pkg.dependencies ?? {});
}

/** How a cell runs the app: compiled by tsc and run by node, by tsx from source, or inside a test runner. */
export type Runner = 'node' | 'tsx' | 'jest' | 'vitest';

export interface Cell {
  fixture: Fixture;
  node: string;
  runner: Runner;
}

export const CELLS: Cell[] = [
  { fixture: 'nest10-cjs', node: NODE.floor, runner: 'node' },
  { fixture: 'nest10-cjs', node: NODE.floor, runner: 'jest' },
  { fixture: 'nest11-cjs', node: NODE.v22, runner: 'node' },
  { fixture: 'nest11-cjs', node: NODE.v24, runner: 'node' },
  { fixture: 'nest12-cjs', node: NODE.floor, runner: 'node' },
  { fixture: 'nest12-cjs', node: NODE.v22, runner: 'node' },
  { fixture: 'nest12-cjs', node: NODE.v24, runner: 'node' },
  // Jest's own require() of ES modules (Nest 12 is ESM-only) needs Node 24.9+: see the README.
  { fixture: 'nest12-cjs', node: NODE.v24, runner: 'jest' },
  { fixture: 'nest12-esm', node: NODE.floor, runner: 'node' },
  { fixture: 'nest12-esm', node: NODE.v22, runner: 'node' },
  { fixture: 'nest12-esm', node: NODE.v24, runner: 'node' },
  { fixture: 'nest12-esm', node: NODE.floor, runner: 'tsx' },
  { fixture: 'nest12-esm', node: NODE.v24, runner: 'tsx' },
  { fixture: 'nest12-esm', node: NODE.floor, runner: 'vitest' },
  { fixture: 'nest12-esm', node: NODE.v22, runner: 'jest' },
];

export interface Run {
  code: number | null;
  output: string;
}

/** Runs a command to its end, collecting stdout and stderr together. */
export function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => {
      output += `\n[killed after ${options.timeoutMs} ms]`;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 300_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

async function mustRun(command: string, args: string[], options: Parameters<typeof run>[2]): Promise<string> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} failed (${result.code}) in ${options.cwd}:\n${result.output}`,
    );
  }
  return result.output;
}

export const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

const NPM_QUIET = ['--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'];

/** `npm pack` of this repository (its prepack builds it): the path of the tarball. */
export async function packPackage(): Promise<string> {
  const destination = join(WORK, 'pack');
  await rm(destination, { recursive: true, force: true });
  await mkdir(destination, { recursive: true });
  await mustRun('npm', ['pack', '--pack-destination', destination, '--loglevel=error'], { cwd: ROOT });
  const [tarball] = (await readdir(destination)).filter((name) => name.endsWith('.tgz'));
  if (!tarball) throw new Error('npm pack made no tarball');
  return join(destination, tarball);
}

/** The `node` binary of `version`, from the npm registry's node-<platform>-<arch> package (kept in .tmp). */
export async function nodeBinary(version: string): Promise<string> {
  const dir = join(WORK, 'node', version);
  const binary = join(dir, 'bin', 'node');
  if (await exists(binary)) return binary;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const pkg = `node-${process.platform}-${process.arch}@${version}`;
  await mustRun('npm', ['pack', pkg, '--pack-destination', dir, '--loglevel=error'], { cwd: dir });
  const [tarball] = (await readdir(dir)).filter((name) => name.endsWith('.tgz'));
  await mustRun('tar', ['xzf', tarball, '--strip-components=1'], { cwd: dir });
  await rm(join(dir, tarball));
  const version_ = (await mustRun(binary, ['--version'], { cwd: dir })).trim();
  if (version_ !== `v${version}`) throw new Error(`${pkg} runs as ${version_}`);
  return binary;
}

export function fixtureDir(fixture: Fixture): string {
  return join(WORK, fixture);
}

/**
 * A fresh copy of the fixture with the shared app in src/ (and app-terminus/ over it where the fixture
 * installs terminus), its locked dependencies and the tarball installed (npm checks the package's peer
 * dependencies here), then compiled by the fixture's own TypeScript: that compile is the type check of the
 * packed declarations against this fixture.
 */
export async function installFixture(fixture: Fixture, tarball: string): Promise<void> {
  const dir = fixtureDir(fixture);
  await rm(dir, { recursive: true, force: true });
  await cp(join(FIXTURES, fixture), dir, { recursive: true });
  await cp(APP, join(dir, 'src'), { recursive: true });
  if (hasTerminus(fixture)) await cp(APP_TERMINUS, join(dir, 'src'), { recursive: true });
  await mustRun('npm', ['install', '--no-save', ...NPM_QUIET, tarball], { cwd: dir, timeoutMs: 600_000 });
}

/** Compiles the fixture (type check included) with its own TypeScript; the output on failure. */
export async function compileFixture(fixture: Fixture): Promise<Run> {
  const dir = fixtureDir(fixture);
  return run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { cwd: dir });
}

/** The installed version of `name` in a fixture. */
export async function installedVersion(fixture: Fixture, name: string): Promise<string> {
  const pkg = JSON.parse(
    await readFile(join(fixtureDir(fixture), 'node_modules', name, 'package.json'), 'utf8'),
  );
  return pkg.version;
}

/** The version of `name` pinned by a fixture's committed lockfile (for naming cells before installing). */
export function lockedVersion(fixture: Fixture, name: string): string {
  const lock = JSON.parse(readFileSync(join(FIXTURES, fixture, 'package-lock.json'), 'utf8'));
  const entry = lock.packages[`node_modules/${name}`];
  if (!entry) throw new Error(`${fixture}'s lockfile has no ${name}`);
  return entry.version;
}

/**
 * `npm install --dry-run` of the tarball beside `dependencies` in an empty project, with npm run by `node`:
 * what npm says about unsupported peers and engines, without installing anything.
 */
export async function dryInstall(
  tarball: string,
  dependencies: string[],
  node = process.execPath,
): Promise<Run> {
  const dir = join(WORK, 'dry-install');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'package.json'), '{ "name": "dry-install", "private": true }\n');
  const npmCli = realpathSync(execFileSync('which', ['npm'], { encoding: 'utf8' }).trim());
  const args = [npmCli, 'install', '--dry-run', '--no-audit', '--no-fund', '--prefer-offline'];
  return run(node, [...args, ...dependencies, tarball], { cwd: dir });
}

/**
 * The command a cell runs in its fixture, given the cell's node binary. A test runner hosts one app
 * itself and starts the compiled app as the other process (COMPAT_PEER).
 */
export function cellCommand(cell: Cell, node: string): { args: string[]; env: Record<string, string> } {
  const env = {
    COMPAT_PEER: JSON.stringify([node, 'dist/main.js']),
    COMPAT_HEALTH: hasTerminus(cell.fixture) ? '1' : '0',
  };
  switch (cell.runner) {
    case 'node':
      return { args: [node, 'dist/run-check.js', node, 'dist/main.js'], env };
    case 'tsx': {
      const tsx = [node, 'node_modules/tsx/dist/cli.mjs'];
      return { args: [...tsx, 'src/run-check.ts', ...tsx, 'src/main.ts'], env };
    }
    case 'vitest':
      return { args: [node, 'node_modules/vitest/vitest.mjs', 'run'], env };
    case 'jest':
      // Both Nest 12 templates run Jest with --experimental-vm-modules (CommonJS tests loading ES modules,
      // or ES module tests); Nest 10's runs it plainly.
      return {
        args:
          cell.fixture === 'nest10-cjs'
            ? [node, 'node_modules/jest/bin/jest.js', '--ci']
            : [node, '--experimental-vm-modules', 'node_modules/jest/bin/jest.js', '--ci'],
        env,
      };
  }
}
