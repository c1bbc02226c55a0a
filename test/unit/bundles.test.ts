/**
 * The deployable bundles (tools/build-bundles.ts): one per function target, each
 * carrying only what its target imports (checked on esbuild's metafile), loading at
 * start only what its first event needs (the rest in chunks it imports on first use),
 * loadable in a fresh node process where it registers its target, and zipped
 * reproducibly with every chunk.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAll, discoverTargets, REPO_ROOT, RUNTIME_DEPENDENCIES, type BundleResult } from '../../tools/build-bundles.ts';
import { crc32, createZip } from '../../tools/zip.ts';

/** Modules a target must not carry: other targets' use cases and adapters. */
const FORBIDDEN: Record<string, RegExp[]> = {
  submitExport: [/deliver-webhook/, /safe-http/, /webhook-signature/, /\/api-[\w-]+\.ts$/, /http-api/, /dashboard/, /scheduler-auth/, /poll-exports/, /submit-upload/, /storage-object-event/],
  deliverWebhook: [/poll-exports/, /\/api-[\w-]+\.ts$/, /http-api/, /dashboard/, /submit-export\.ts$/, /submit-upload/, /scheduler-auth/],
  onObjectFinalized: [/deliver-webhook/, /safe-http/, /\/api-[\w-]+\.ts$/, /http-api/, /dashboard/, /poll-exports/, /scheduler-auth/],
  api: [/deliver-webhook/, /safe-http/, /poll-exports/, /submit-upload/, /storage-object-event/],
  pollExports: [/\/api-[\w-]+\.ts$/, /http-api/, /dashboard/, /submit-upload/, /storage-object-event/],
};

let out: string;
let bundles: BundleResult[];

beforeAll(async () => {
  // Inside the repository (dist/ is ignored by git and eslint), so the bundles resolve the framework from node_modules as deployed ones do from theirs.
  mkdirSync(join(REPO_ROOT, 'dist'), { recursive: true });
  out = mkdtempSync(join(REPO_ROOT, 'dist', '.test-bundles-'));
  bundles = await buildAll({ outDir: out });
}, 180_000);
afterAll(() => rmSync(out, { recursive: true, force: true }));

const ours = (b: BundleResult) => b.inputs.filter((p) => p.startsWith('functions/'));
/** The bundle's JavaScript files, relative to its directory, as esbuild's metafile lists them. */
const jsFiles = (b: BundleResult) =>
  Object.keys(b.metafile.outputs)
    .filter((o) => o.endsWith('.js'))
    .map((o) => relative(b.dir, join(REPO_ROOT, o)).split('\\').join('/'))
    .sort();

describe('function bundles', () => {
  it('one per registered target', () => {
    expect(bundles.map((b) => b.target.name)).toEqual(discoverTargets().map((t) => t.name));
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { target: string; sha256: string; zip: string }[];
    expect(manifest.map((m) => m.target)).toEqual(bundles.map((b) => b.target.name));
    for (const m of manifest) expect(m.zip).toBe(`${m.target}.zip`);
  });

  it('each carries only its own target: its entry file, and no other target’s use cases', () => {
    for (const b of bundles) {
      const modules = ours(b);
      expect(modules, b.target.name).toContain(b.target.entryFile);
      expect(modules.filter((p) => p.startsWith('functions/src/entry/')), `${b.target.name} bundles another entry`).toEqual([b.target.entryFile]);
      expect(modules, `${b.target.name} must not bundle the aggregate composition root`).not.toContain('functions/src/composition-root.ts');
      for (const re of FORBIDDEN[b.target.name] ?? []) {
        expect(modules.filter((p) => re.test(p)), `${b.target.name} carries ${re}`).toEqual([]);
      }
    }
    const submit = bundles.find((b) => b.target.name === 'submitExport');
    expect(submit, 'the submit path is the one that must stay lean').toBeDefined();
  });

  it('loads the Pub/Sub client only on first publish: it is in a chunk that index.js does not import statically', () => {
    for (const b of bundles) {
      const pubsub = (inputs: string[]) => inputs.filter((p) => p.startsWith('node_modules/@google-cloud/pubsub/'));
      expect(pubsub(b.inputs).length, `${b.target.name} publishes events, so its bundle carries the client`).toBeGreaterThan(0);
      expect(pubsub(b.startInputs), `${b.target.name} loads Pub/Sub at start`).toEqual([]);
      // The Firestore client is every target's first call: loaded at start, not fetched as a chunk mid-event.
      expect(b.startInputs.some((p) => p.startsWith('node_modules/@google-cloud/firestore/')), b.target.name).toBe(true);
      expect(b.startBytes, b.target.name).toBeLessThan(b.totalBytes);
    }
  });

  it('bundles every dependency except the functions framework, which package.json declares at the installed version', () => {
    for (const b of bundles) {
      expect(b.inputs.some((p) => p.includes('node_modules/@google-cloud/functions-framework/')), b.target.name).toBe(false);
      const pkg = JSON.parse(readFileSync(join(b.dir, 'package.json'), 'utf8')) as { type: string; main: string; dependencies: Record<string, string> };
      expect(pkg.type).toBe('module');
      expect(pkg.main).toBe('index.js');
      expect(Object.keys(pkg.dependencies)).toEqual([...RUNTIME_DEPENDENCIES]);
      for (const v of Object.values(pkg.dependencies)) expect(v).toMatch(/^\d+\.\d+\.\d+/);
    }
  });

  it('each loads in a fresh node process and registers its target with the functions framework', () => {
    for (const b of bundles) {
      const code = `
        const { createRequire } = await import('node:module');
        const { pathToFileURL } = await import('node:url');
        const bundle = ${JSON.stringify(join(b.dir, 'index.js'))};
        const { getTestServer } = await import(pathToFileURL(createRequire(bundle).resolve('@google-cloud/functions-framework/testing')).href);
        await import(pathToFileURL(bundle).href);
        getTestServer(${JSON.stringify(b.target.name)});
        process.stdout.write('registered');
        process.exit(0);`;
      // The config is read lazily, on the first event: importing needs no environment.
      const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', code], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '', METADATA_SERVER_DETECTION: 'none' },
        timeout: 60_000,
      });
      expect(stdout, b.target.name).toBe('registered');
    }
  }, 120_000);

  it('inlines the dashboard files where the dashboard is served (a deployed function has no files beside its bundle)', () => {
    for (const b of bundles.filter((x) => x.inputs.includes('functions/src/dashboard/dashboard-assets.ts'))) {
      const js = jsFiles(b)
        .map((f) => readFileSync(join(b.dir, f), 'utf8'))
        .join('\n');
      expect(js, b.target.name).toContain('<define:__EEPORT_DASHBOARD_FILES__>');
      expect(js, `${b.target.name} would read the dashboard from disk`).not.toMatch(/typeof __EEPORT_DASHBOARD_FILES__/);
    }
  });

  it('zips index.js, every chunk it may import, and package.json', () => {
    for (const b of bundles) {
      const names = readZip(readFileSync(b.zip)).map((e) => e.name);
      expect(jsFiles(b).length, `${b.target.name} has chunks`).toBeGreaterThan(1);
      expect(names.filter((n) => n.endsWith('.js')).sort(), b.target.name).toEqual(jsFiles(b));
      expect(names, b.target.name).toEqual(expect.arrayContaining(['index.js', 'package.json']));
      expect(names.filter((n) => n.endsWith('.map') || n === 'meta.json'), 'source maps and metafiles are not deployed').toEqual([]);
    }
  });
});

/** A small reader for the zips we write: central directory, then each entry inflated and CRC-checked. */
function readZip(zip: Buffer): { name: string; data: Buffer }[] {
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  expect(eocd).toBeGreaterThan(0);
  const count = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  const out: { name: string; data: Buffer }[] = [];
  for (let i = 0; i < count; i++) {
    expect(zip.readUInt32LE(p)).toBe(0x02014b50);
    const method = zip.readUInt16LE(p + 10);
    const crc = zip.readUInt32LE(p + 16);
    const size = zip.readUInt32LE(p + 20);
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    const local = zip.readUInt32LE(p + 42);
    const name = zip.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    expect(zip.readUInt32LE(local)).toBe(0x04034b50);
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const body = zip.subarray(start, start + size);
    const data = method === 8 ? inflateRawSync(body) : Buffer.from(body);
    expect(crc32(data), name).toBe(crc);
    out.push({ name, data });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

describe('tools/zip.ts', () => {
  const files = [
    { name: 'package.json', data: Buffer.from('{"type":"module"}\n') },
    { name: 'index.js', data: Buffer.from('export const x = 1;\n'.repeat(200)) },
    { name: 'empty.txt', data: Buffer.alloc(0) },
  ];

  it('round-trips entries, deflated where that helps, sorted by name', () => {
    expect(readZip(createZip(files))).toEqual([...files].sort((a, b) => a.name.localeCompare(b.name)));
  });

  it('is deterministic: the same files give the same bytes (the zip hash names the deployed object)', () => {
    expect(createZip(files).equals(createZip([...files].reverse()))).toBe(true);
  });

  it('knows the CRC-32 check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });

  it('is readable by unzip, when the machine has it', (ctx) => {
    try {
      execFileSync('unzip', ['-v'], { stdio: 'ignore' });
    } catch {
      console.log('SKIPPED unzip check: no unzip on this machine (the in-test reader above still checks the format)');
      ctx.skip();
    }
    const dir = mkdtempSync(join(tmpdir(), 'eeport-zip-'));
    try {
      const path = join(dir, 'x.zip');
      execFileSync('sh', ['-c', 'cat > "$1"', 'sh', path], { input: createZip(files) });
      const listing = execFileSync('unzip', ['-t', path], { encoding: 'utf8' });
      expect(listing).toMatch(/No errors detected/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses names that would escape the archive', () => {
    for (const name of ['/etc/passwd', '../x', 'a/../../b', 'a\\b']) expect(() => createZip([{ name, data: Buffer.alloc(1) }])).toThrow(/bad zip entry name/);
  });
});
