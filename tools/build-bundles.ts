/**
 * `npm run build`: one lean bundle per function target.
 *
 *   dist/<target>/index.js       the entry file and everything it imports, bundled (ESM, node22)
 *   dist/<target>/chunks/*.js    code the target loads with import() only on a rare path or on
 *                                first use (esbuild's code splitting), so a cold start does not
 *                                read or run it (ADR 0016)
 *   dist/<target>/package.json   "type": "module", main, and the one runtime dependency
 *   dist/<target>/meta.json      esbuild's metafile: which modules went in (not deployed)
 *   dist/<target>.zip            index.js + package.json (+ legal notices): what infra/ uploads
 *   dist/manifest.json           target → signature, zip, sha256, sizes
 *
 * The targets are read from functions/src/entry/*.entry.ts (each registers exactly one
 * with ff.http / ff.cloudEvent), so a new entry file is a new bundle with no list to
 * update. Every dependency is bundled except @google-cloud/functions-framework: the
 * Cloud Functions runtime starts the function through the framework installed from
 * package.json, and the function must register on that same module instance.
 */
import { build, type Metafile } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createZip, type ZipEntry } from './zip.ts';
import { DASHBOARD_FILES, readDashboardFiles } from '../functions/src/dashboard/dashboard-assets.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ENTRY_DIR = 'functions/src/entry';
/** Not bundled: the runtime loads the function through it (see the header). */
export const RUNTIME_DEPENDENCIES = ['@google-cloud/functions-framework'] as const;

export type Signature = 'http' | 'cloudevent';

export interface FunctionTarget {
  /** The name registered with the functions framework, and the deployed entry point. */
  name: string;
  signature: Signature;
  /** Repository-relative path of the entry file. */
  entryFile: string;
}

const REGISTRATION = /\bff\.(http|cloudEvent)\(\s*(['"])([A-Za-z_$][\w$]*)\2/g;

/** The targets the code registers, one per entry file, sorted by name. */
export function discoverTargets(root = REPO_ROOT): FunctionTarget[] {
  const dir = join(root, ENTRY_DIR);
  const targets: FunctionTarget[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.entry.ts')).sort()) {
    const source = readFileSync(join(dir, file), 'utf8');
    const found = [...source.matchAll(REGISTRATION)];
    if (found.length !== 1) throw new Error(`${ENTRY_DIR}/${file} must register exactly one function target with ff.http or ff.cloudEvent; found ${found.length}`);
    const [, kind, , name] = found[0]!;
    targets.push({ name: name!, signature: kind === 'http' ? 'http' : 'cloudevent', entryFile: `${ENTRY_DIR}/${file}` });
  }
  const names = targets.map((t) => t.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new Error(`function target ${dup} is registered by more than one entry file`);
  return targets.sort((a, b) => a.name.localeCompare(b.name));
}

// ESM output still meets CommonJS inside the Google clients: give it require, __filename and __dirname.
const BANNER = [
  "import { createRequire as __eeportCreateRequire } from 'node:module';",
  "import { fileURLToPath as __eeportFileURLToPath } from 'node:url';",
  "import { dirname as __eeportDirname } from 'node:path';",
  'const require = __eeportCreateRequire(import.meta.url);',
  'const __filename = __eeportFileURLToPath(import.meta.url);',
  'const __dirname = __eeportDirname(__filename);',
].join('\n');

export interface BundleResult {
  target: FunctionTarget;
  dir: string;
  zip: string;
  /** Bytes of index.js. */
  bundleBytes: number;
  /** Bytes of index.js and the chunks it imports statically: what a cold start loads before the first event. */
  startBytes: number;
  /** Bytes of every JavaScript file of the bundle (index.js and all its chunks). */
  totalBytes: number;
  zipBytes: number;
  sha256: string;
  /** Repository-relative paths of the modules that contributed code to any of the bundle's files. */
  inputs: string[];
  /** Those of them loaded at start: in index.js or a chunk it imports statically (not through import()). */
  startInputs: string[];
  metafile: Metafile;
}

/** The output files loaded with `entry`: it and the chunks it imports statically, transitively. */
export function staticClosure(metafile: Metafile, entry: string): string[] {
  const seen = new Set<string>([entry]);
  const todo = [entry];
  while (todo.length) {
    for (const imp of metafile.outputs[todo.pop()!]?.imports ?? []) {
      if (imp.kind === 'import-statement' && !imp.external && !seen.has(imp.path)) {
        seen.add(imp.path);
        todo.push(imp.path);
      }
    }
  }
  return [...seen];
}

const contributed = (metafile: Metafile, outputs: string[]) =>
  [...new Set(outputs.flatMap((o) => Object.entries(metafile.outputs[o]!.inputs).filter(([, v]) => v.bytesInOutput > 0).map(([k]) => k)))].sort();

function runtimeVersion(root: string, pkg: string): string {
  return (JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
}

const DASHBOARD_MODULE = 'functions/src/dashboard/dashboard-assets.ts';

/**
 * The dashboard's files (functions/src/dashboard/), inlined as __EEPORT_DASHBOARD_FILES__:
 * a deployed function has only its bundle, no files beside it to read.
 */
function dashboardDefine(root: string): Record<string, string> {
  const dir = join(root, dirname(DASHBOARD_MODULE));
  if (!DASHBOARD_FILES.every((f) => existsSync(join(dir, f)))) return {};
  return { __EEPORT_DASHBOARD_FILES__: JSON.stringify(readDashboardFiles(pathToFileURL(`${dir}/`))) };
}

export async function buildBundle(target: FunctionTarget, opts: { root?: string; outDir?: string } = {}): Promise<BundleResult> {
  const root = opts.root ?? REPO_ROOT;
  const outDir = opts.outDir ?? join(root, 'dist');
  const dir = join(outDir, target.name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const define = dashboardDefine(root);
  const result = await build({
    absWorkingDir: root,
    entryPoints: [{ in: join(root, target.entryFile), out: 'index' }],
    outdir: dir,
    // Modules reached only through import() go to chunks loaded when that import runs.
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    // Bundlers pick the "module"/"import" builds; the Google clients' CJS builds are the tested ones.
    mainFields: ['module', 'main'],
    conditions: ['node'],
    external: [...RUNTIME_DEPENDENCIES],
    banner: { js: BANNER },
    define,
    // Smaller and faster to parse; identifiers are kept so stack traces stay readable.
    minifyWhitespace: true,
    minifySyntax: true,
    keepNames: true,
    legalComments: 'linked',
    sourcemap: 'linked',
    sourcesContent: false,
    metafile: true,
    logLevel: 'warning',
  });
  const metafile = result.metafile;
  const rel = (p: string) => relative(root, p).split('\\').join('/');
  const entry = rel(join(dir, 'index.js'));
  const output = metafile.outputs[entry];
  if (!output) throw new Error(`esbuild reported no output for ${target.name}`);
  writeFileSync(join(dir, 'meta.json'), JSON.stringify(metafile));
  const jsOutputs = Object.keys(metafile.outputs).filter((o) => o.endsWith('.js'));
  const atStart = staticClosure(metafile, entry);
  const inputs = contributed(metafile, jsOutputs);
  if (inputs.includes(DASHBOARD_MODULE) && !define.__EEPORT_DASHBOARD_FILES__) {
    throw new Error(`${target.name} serves the dashboard, but ${dirname(DASHBOARD_MODULE)}/ lacks one of ${DASHBOARD_FILES.join(', ')}: a deployed function could not read them`);
  }
  const pkg = {
    name: `eeport-${target.name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
    private: true,
    type: 'module',
    main: 'index.js',
    engines: { node: '22' },
    dependencies: Object.fromEntries(RUNTIME_DEPENDENCIES.map((d) => [d, runtimeVersion(root, d)])),
  };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);

  const files: ZipEntry[] = [{ name: 'package.json', data: readFileSync(join(dir, 'package.json')) }];
  for (const o of jsOutputs) {
    const name = relative(dir, join(root, o)).split('\\').join('/');
    files.push({ name, data: readFileSync(join(dir, name)) });
    if (existsSync(join(dir, `${name}.LEGAL.txt`))) files.push({ name: `${name}.LEGAL.txt`, data: readFileSync(join(dir, `${name}.LEGAL.txt`)) });
  }
  const zipBytes = createZip(files);
  const zip = join(outDir, `${target.name}.zip`);
  writeFileSync(zip, zipBytes);
  return {
    target,
    dir,
    zip,
    bundleBytes: output.bytes,
    startBytes: atStart.reduce((n, o) => n + metafile.outputs[o]!.bytes, 0),
    totalBytes: jsOutputs.reduce((n, o) => n + metafile.outputs[o]!.bytes, 0),
    zipBytes: zipBytes.length,
    sha256: createHash('sha256').update(zipBytes).digest('hex'),
    inputs,
    startInputs: contributed(metafile, atStart),
    metafile,
  };
}

export async function buildAll(opts: { root?: string; outDir?: string; only?: readonly string[] } = {}): Promise<BundleResult[]> {
  const root = opts.root ?? REPO_ROOT;
  const outDir = opts.outDir ?? join(root, 'dist');
  const targets = discoverTargets(root).filter((t) => !opts.only?.length || opts.only.includes(t.name));
  mkdirSync(outDir, { recursive: true });
  const results: BundleResult[] = [];
  for (const t of targets) results.push(await buildBundle(t, { root, outDir }));
  const manifest = results.map((r) => ({
    target: r.target.name,
    signature: r.target.signature,
    entryFile: r.target.entryFile,
    zip: relative(outDir, r.zip),
    sha256: r.sha256,
    bundleBytes: r.bundleBytes,
    startBytes: r.startBytes,
    totalBytes: r.totalBytes,
    zipBytes: r.zipBytes,
    modules: r.inputs.length,
  }));
  writeFileSync(join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return results;
}

/** Bytes as KiB/MiB for the build report. */
export const kib = (n: number) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`);

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const t0 = performance.now();
  const results = await buildAll({ only });
  const rows = results.map((r) => [r.target.name, r.target.signature, kib(r.startBytes), kib(r.totalBytes), kib(r.zipBytes), String(r.inputs.length), relative(REPO_ROOT, r.zip)]);
  const head = ['target', 'signature', 'loaded at start', 'all js', 'zip', 'modules', 'file'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(line(head));
  for (const r of rows) console.log(line(r));
  console.log(`built ${results.length} bundles in ${((performance.now() - t0) / 1000).toFixed(1)} s; dist/manifest.json lists them`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
