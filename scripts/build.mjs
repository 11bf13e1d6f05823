/**
 * Builds the package: one ES module and one CommonJS file, both derived from the same TypeScript emit, plus
 * the type declarations for both. Run by `npm run build` and by `npm pack`/`npm publish` (prepack).
 *
 *   tsc (lib/ -> .tmp/build: ES modules with decorator metadata, source maps with their sources inlined;
 *        declarations -> dist/types)
 *   esbuild bundles .tmp/build/index.js twice, every package left external:
 *     dist/index.mjs  for `import` (and for `require` on Node versions with the module-sync condition)
 *     dist/index.cjs  for `require` where module-sync is unknown (Jest, older bundlers)
 *   dist/index.d.mts re-exports the declarations for ES module consumers.
 *   dist/terminus.{mjs,cjs,d.mts} likewise for the `nestjs-memolock/terminus` subpath (the health indicator,
 *   which needs the optional peer @nestjs/terminus): it imports the main entry as the package itself, so
 *   that both share one MemoLockEngine class (one injection token), and the main entry never loads terminus.
 *
 * Bundling is what makes the ES module build work without `.js` extensions on relative imports in lib/:
 * esbuild resolves them at build time, and fails the build when one does not resolve. Code that only
 * works in one module format fails the build too (see checkFormat).
 */
import { rm, mkdir, readFile, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const emitted = join(root, '.tmp/build');
const dist = join(root, 'dist');

/**
 * Appended to both bundles. Node sends `require` and `import` to the same ES module file (module-sync), so
 * an app gets one copy of MemoLockModule and MemoLockService whichever way it loads the package. Where a
 * tool resolves `require` itself (Jest's CommonJS mode), an app that also imports the package would get two
 * copies, whose classes are different DI tokens: say so once, instead of leaving a confusing DI error.
 */
const duplicateGuard = (self) => `
{
  const loaded = (globalThis[Symbol.for('nestjs-memolock:loaded')] ??= new Set());
  loaded.add(${self});
  if (loaded.size === 2)
    process.emitWarning(
      'nestjs-memolock is loaded twice in this process (' + [...loaded].join(' and ') + '): ' +
        'its classes (MemoLockModule, MemoLockService, MemoLockEngine) exist twice and are different injection ' +
        'tokens. Load it one way (import or require) throughout; see "Module formats" in its README.',
      { code: 'NESTJS_MEMOLOCK_DUPLICATE' },
    );
}`;

/**
 * Node's ES module resolver wants the file extension in a deep import of a package that has no exports map
 * (`@nestjs/common/constants` must be `@nestjs/common/constants.js` with Nest 10 and 11), where require()
 * finds the file either way; Nest 12's exports map takes both (`./*` and `./*.js`). So both bundles name the
 * file, as resolved here against the installed package; the build fails when it does not resolve.
 */
const requireFromRoot = createRequire(join(root, 'package.json'));
const deepImportsWithExtension = {
  name: 'deep-imports-with-extension',
  setup(builder) {
    builder.onResolve({ filter: /^(?:@[^/]+\/[^/]+|[^@./][^/:]*)\/./ }, ({ path: specifier }) => {
      if (/\.[cm]?js$/.test(specifier)) return { path: specifier, external: true };
      const file = requireFromRoot.resolve(specifier);
      const tail = specifier.split('/').join(sep);
      for (const suffix of ['.js', '/index.js']) {
        if (file.endsWith(tail + suffix.split('/').join(sep)))
          return { path: specifier + suffix, external: true };
      }
      throw new Error(`cannot name the file of the deep import ${specifier} (resolved to ${file})`);
    });
  },
};

/** Fails the build on code that would only break at run time in one of the two formats. */
function checkFormat(format, code) {
  const forbidden =
    format === 'esm'
      ? [
          [/\b__require\(/, 'a require() call (use import)'],
          [/\b__(dirname|filename)\b/, '__dirname/__filename (not defined in ES modules)'],
        ]
      : [[/\bimport\.meta\b/, 'import.meta (not defined in CommonJS)']];
  for (const [pattern, what] of forbidden) {
    if (pattern.test(code)) throw new Error(`the ${format} build contains ${what}`);
  }
}

async function bundle(format, outfile, self, entry = 'index') {
  const result = await build({
    entryPoints: [join(emitted, `${entry}.js`)],
    outfile,
    bundle: true,
    format,
    platform: 'node',
    target: 'node20.19',
    packages: 'external',
    // tsconfig's `paths` maps the package's own name to lib/ (for tests and the sample): here it stays a package.
    external: ['nestjs-memolock'],
    // Optional peers are loaded with import() when first needed; in CommonJS that becomes a require(), as
    // every other package there is (a native import() fails under Jest's CommonJS runtime, for one).
    supported: format === 'cjs' ? { 'dynamic-import': false } : undefined,
    sourcemap: true,
    sourcesContent: true,
    plugins: [deepImportsWithExtension],
    footer: self === undefined ? undefined : { js: duplicateGuard(self) },
    logLevel: 'silent',
  });
  if (result.warnings.length > 0) {
    throw new Error(`esbuild warned (${format}):\n${result.warnings.map((w) => w.text).join('\n')}`);
  }
  const code = await readFile(outfile, 'utf8');
  checkFormat(format, code);
  return code;
}

await rm(dist, { recursive: true, force: true });
await rm(emitted, { recursive: true, force: true });
await mkdir(dist, { recursive: true });

execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
  cwd: root,
  stdio: 'inherit',
});

// tsx compiles an ES module that is require()d again, as CommonJS, from the same file: tell the two apart.
await bundle(
  'esm',
  join(dist, 'index.mjs'),
  "import.meta.url + (typeof module === 'object' ? ' (compiled to CommonJS)' : '')",
);
await bundle('cjs', join(dist, 'index.cjs'), "'file://' + __filename");
await writeFile(join(dist, 'index.d.mts'), "export * from './types/index.js';\n");
for (const [format, file] of [
  ['esm', 'terminus.mjs'],
  ['cjs', 'terminus.cjs'],
]) {
  const code = await bundle(format, join(dist, file), undefined, 'terminus');
  // A copy of the main entry's classes here would be a second MemoLockEngine token.
  const imported = format === 'esm' ? /from "nestjs-memolock"/ : /require\("nestjs-memolock"\)/;
  if (!imported.test(code) || /\bMemoLockEngine = class\b/.test(code)) {
    throw new Error(`${file} must import MemoLockEngine from nestjs-memolock, not bundle a copy of it`);
  }
}
await writeFile(join(dist, 'terminus.d.mts'), "export * from './types/terminus.js';\n");
await rm(emitted, { recursive: true, force: true });
