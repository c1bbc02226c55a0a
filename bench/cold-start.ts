/**
 * Cold start of each function target, as deployed: a fresh node process loads the
 * functions framework (as the Cloud Functions runtime does), imports the built bundle
 * (dist/<target>/index.js) and handles its first event against Google's emulators and
 * the Earth Engine simulator. The baseline, measured in the same run and interleaved
 * with it, is a fresh process that loads the framework and then only imports the Google
 * client packages the bundle loads at start (index.js and the chunks it imports
 * statically; a client only a lazily loaded chunk holds is imported by the baseline when
 * its first calls use it: Pub/Sub where the target publishes), straight from
 * node_modules, and makes the same first calls: the floor any packaging of this function
 * pays. Bundle sizes are reported against the bytes of the source modules they were
 * built from.
 *
 *   coldStartFigures({ hosts, notes })   rows for bench/run.ts (hosts: its emulators)
 *   npm run bench:coldstart             standalone: builds, starts what it needs, prints
 *
 * Without the emulators only the import figures are measured (the clients are created
 * lazily, so importing needs no backend); the first-event rows are skipped with the
 * reason in the notes.
 */
process.env.METADATA_SERVER_DETECTION ??= 'none';

import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAll, REPO_ROOT, type BundleResult } from '../tools/build-bundles.ts';
import { locateEmulator, startEmulator, type RunningEmulator } from '../tools/emulators/emulators.ts';
import { startSimulator, type Simulator } from '../tools/ee-simulator/index.ts';
import { percentile, QUICK, result, type Result } from './lib.ts';

export interface EmulatorHosts {
  firestoreHost: string;
  pubsubHost: string;
}

export interface ColdStartOptions {
  /** Running emulators to use; without them the figure starts its own when it can. */
  hosts?: EmulatorHosts | null;
  /** Explanations for the printed report (skips, what was measured). */
  notes?: string[];
  /** Processes per target and per baseline (default 7, 3 when BENCH_QUICK=1). */
  runs?: number;
  /** Bundles to use; default: build them now, so the figures are of the current code. */
  bundles?: BundleResult[];
  /** Google Cloud project id on the emulators (tests pass their own). */
  project?: string;
  /** One untimed run of each process first, so file-cache misses do not count (default true). */
  warmup?: boolean;
}

/**
 * Targets whose first event publishes (a job's submitted event): their baseline publishes once too. Another
 * target's first event may publish as well (the poller, when a job the earlier targets' runs left has moved
 * on): the runs are watched on the events topic, and the baseline publishes after each run that did.
 */
const PUBLISHES = new Set(['submitExport', 'onObjectFinalized']);
const TAP = 'cold-start-tap';

/** The Google client packages a bundle may contain; the baseline imports those it does. */
const GOOGLE_CLIENTS = ['@google-cloud/firestore', '@google-cloud/pubsub', '@google-cloud/storage', 'google-auth-library'] as const;

const DEFAULT_PROJECT = 'bench-cold-start';
const UPLOAD_BUCKET = 'bench-uploads';
const WEBHOOK_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

const EXPORT_REQUEST = {
  description: 'cold start',
  expression: {
    result: '0',
    values: { '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: 'projects/p/assets/a' } } } } },
  },
  fileExportOptions: { cloudStorageDestination: { bucket: 'b', filenamePrefix: 'x' }, fileFormat: 'GEO_TIFF' },
  maxPixels: '10000000000',
};

const UPLOAD_RULES = {
  rules: [
    {
      name: 'bench',
      match: { bucket: UPLOAD_BUCKET, prefix: 'incoming/' },
      request: { description: '{{stem}}', fileExportOptions: { cloudStorageDestination: { bucket: 'out', filenamePrefix: '{{stem}}' }, fileFormat: 'GEO_TIFF' } },
    },
  ],
};

interface FirstRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Statuses that mean "handled" (acknowledged, answered). */
  ok: number[];
}

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64');

function pubsubEvent(project: string, topic: string, data: unknown, id = randomUUID()): FirstRequest {
  return {
    method: 'POST',
    path: '/',
    headers: {
      'content-type': 'application/json',
      'ce-id': id,
      'ce-specversion': '1.0',
      'ce-type': 'google.cloud.pubsub.topic.v1.messagePublished',
      'ce-source': `//pubsub.googleapis.com/projects/${project}/topics/${topic}`,
    },
    body: JSON.stringify({ message: { data: b64(data), messageId: id, attributes: {} }, subscription: `projects/${project}/subscriptions/${topic}-push` }),
    ok: [200, 204],
  };
}

/** The first event each known target handles; a target not listed is measured on import only. */
const FIRST_EVENT: Record<string, (ctx: { receiverUrl: string; project: string }) => FirstRequest> = {
  submitExport: ({ project }) => pubsubEvent(project, 'eeport-requests', EXPORT_REQUEST),
  deliverWebhook: ({ receiverUrl, project }) => {
    const jobId = randomUUID().replace(/-/g, '');
    return pubsubEvent(project, 'eeport-events', {
      specversion: '1.0',
      id: `${jobId}.4`,
      source: `//eeport/projects/${project}`,
      type: 'dev.eeport.export.v1.succeeded',
      subject: jobId,
      time: new Date().toISOString(),
      datacontenttype: 'application/json',
      data: { jobId, state: 'SUCCEEDED', eeProject: 'ee-bench', callbackUrl: `${receiverUrl}/hook`, labels: {}, destinationUris: [], error: null },
    });
  },
  pollExports: () => ({ method: 'GET', path: '/', headers: {}, ok: [200] }),
  onObjectFinalized: () => {
    const name = `incoming/${randomUUID()}.tif`;
    return {
      method: 'POST',
      path: '/',
      headers: {
        'content-type': 'application/json',
        'ce-id': randomUUID(),
        'ce-specversion': '1.0',
        'ce-type': 'google.cloud.storage.object.v1.finalized',
        'ce-source': `//storage.googleapis.com/projects/_/buckets/${UPLOAD_BUCKET}`,
        'ce-subject': `objects/${name}`,
      },
      body: JSON.stringify({ bucket: UPLOAD_BUCKET, name, generation: String(Date.now()), contentType: 'image/tiff' }),
      ok: [200, 204],
    };
  },
  api: () => ({ method: 'GET', path: '/v1/jobs?pageSize=1', headers: {}, ok: [200] }),
};

// The child processes are plain ESM (no TypeScript loader), so nothing but node is measured.
const BUNDLE_CHILD = `
const t0 = performance.now();
const { pathToFileURL } = await import('node:url');
const { createRequire } = await import('node:module');
const http = await import('node:http');
const cfg = JSON.parse(process.env.EEPORT_COLD_START);
const fwStart = performance.now();
const { getTestServer } = await import(pathToFileURL(createRequire(cfg.bundle).resolve('@google-cloud/functions-framework/testing')).href);
const fwEnd = performance.now();
await import(pathToFileURL(cfg.bundle).href);
const importEnd = performance.now();
let status = null;
let eventEnd = importEnd;
if (cfg.request) {
  const server = getTestServer(cfg.target);
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  status = await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.address().port, path: cfg.request.path, method: cfg.request.method, headers: cfg.request.headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(cfg.request.body);
  });
  eventEnd = performance.now();
}
process.stdout.write(JSON.stringify({ boot: t0, framework: fwEnd - fwStart, import: importEnd - fwEnd, firstEvent: eventEnd - importEnd, total: eventEnd, status }) + '\\n');
process.exit(0);
`;

const BASELINE_CHILD = `
const t0 = performance.now();
const { pathToFileURL } = await import('node:url');
const { createRequire } = await import('node:module');
const cfg = JSON.parse(process.env.EEPORT_COLD_START);
const req = createRequire(cfg.root + '/package.json');
const fwStart = performance.now();
await import(pathToFileURL(req.resolve('@google-cloud/functions-framework/testing')).href);
const fwEnd = performance.now();
const mods = {};
for (const m of cfg.modules) mods[m] = await import(pathToFileURL(req.resolve(m)).href);
const importEnd = performance.now();
// The same first calls the function makes: one Firestore read, and one publish where the target publishes.
if (cfg.calls) {
  const { Firestore } = mods['@google-cloud/firestore'];
  const db = new Firestore({ projectId: process.env.GOOGLE_CLOUD_PROJECT });
  await db.collection('jobs').doc('cold-start-baseline').get();
  if (cfg.publish) {
    // Imported here where the function loads it on first use (a chunk of its bundle).
    for (const m of cfg.lazyModules) mods[m] = await import(pathToFileURL(req.resolve(m)).href);
    const { PubSub } = mods['@google-cloud/pubsub'];
    await new PubSub({ projectId: process.env.GOOGLE_CLOUD_PROJECT }).topic('eeport-events').publishMessage({ data: Buffer.from('{}') });
  }
}
const callsEnd = performance.now();
process.stdout.write(JSON.stringify({ boot: t0, framework: fwEnd - fwStart, import: importEnd - fwEnd, firstEvent: callsEnd - importEnd }) + '\\n');
process.exit(0);
`;

interface ChildTimes {
  boot: number;
  framework: number;
  import: number;
  firstEvent?: number;
  total?: number;
  status?: number | null;
  /** The child's logs, for the error when its first event was not handled. */
  output?: string;
}

function runChild(code: string, env: Record<string, string>, cfg: unknown): Promise<ChildTimes> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
      cwd: REPO_ROOT,
      env: { ...env, EEPORT_COLD_START: JSON.stringify(cfg) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = out.split('\n').reverse().find((l) => l.startsWith('{"boot"'));
      if (code !== 0 || !line) return reject(new Error(`cold-start child exited ${code}:\n${err || out}`));
      resolvePromise({ ...(JSON.parse(line) as ChildTimes), output: `${out}\n${err}`.trim().slice(-3000) });
    });
  });
}

/** Pulls and acknowledges what the events tap holds; the number of messages. */
async function drainTap(hosts: EmulatorHosts, project: string): Promise<number> {
  const sub = `http://${hosts.pubsubHost}/v1/projects/${project}/subscriptions/${TAP}`;
  let n = 0;
  for (;;) {
    const res = await fetch(`${sub}:pull`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ maxMessages: 100, returnImmediately: true }) });
    if (!res.ok) throw new Error(`pulling the events tap failed: ${res.status} ${await res.text()}`);
    const ackIds = ((await res.json()) as { receivedMessages?: { ackId: string }[] }).receivedMessages?.map((m) => m.ackId) ?? [];
    if (!ackIds.length) return n;
    n += ackIds.length;
    const ack = await fetch(`${sub}:acknowledge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ackIds }) });
    if (!ack.ok) throw new Error(`acknowledging the events tap failed: ${ack.status}`);
  }
}

/** The Google client packages that contributed code to a bundle (`atStart`: to what it loads before its first event). */
export function clientsIn(bundle: BundleResult, atStart = false): string[] {
  const inputs = atStart ? bundle.startInputs : bundle.inputs;
  return GOOGLE_CLIENTS.filter((pkg) => inputs.some((p) => p.startsWith(`node_modules/${pkg}/`)));
}

function sourceBytes(bundle: BundleResult): number {
  return bundle.inputs.reduce((n, p) => {
    try {
      return n + statSync(join(REPO_ROOT, p)).size;
    } catch {
      return n;
    }
  }, 0);
}

async function startOwnEmulators(notes: string[]): Promise<{ hosts: EmulatorHosts | null; running: RunningEmulator[] }> {
  const running: RunningEmulator[] = [];
  const hosts: Partial<Record<'firestore' | 'pubsub', string>> = {};
  for (const kind of ['firestore', 'pubsub'] as const) {
    const loc = locateEmulator(kind);
    if ('missing' in loc) {
      notes.push(`cold start: ${loc.missing}`);
      continue;
    }
    try {
      const emu = await startEmulator(loc);
      running.push(emu);
      hosts[kind] = emu.host;
    } catch (err) {
      notes.push(`cold start: ${kind} emulator failed to start: ${(err as Error).message}`);
    }
  }
  return { hosts: hosts.firestore && hosts.pubsub ? { firestoreHost: hosts.firestore, pubsubHost: hosts.pubsub } : null, running };
}

export async function coldStartFigures(opts: ColdStartOptions = {}): Promise<Result[]> {
  const notes = opts.notes ?? [];
  const runs = opts.runs ?? (QUICK ? 3 : 7);
  const project = opts.project ?? DEFAULT_PROJECT;
  const bundles = opts.bundles ?? (await buildAll());
  const own = opts.hosts === undefined ? await startOwnEmulators(notes) : { hosts: opts.hosts, running: [] };
  const hosts = own.hosts;
  let sim: Simulator | undefined;
  let receiver: Server | undefined;
  try {
    let receiverUrl = 'http://127.0.0.1:9';
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      METADATA_SERVER_DETECTION: 'none',
      NODE_ENV: 'production',
      GOOGLE_CLOUD_PROJECT: project,
      EE_PROJECT: 'ee-bench',
      EE_ACCESS_TOKEN: 'bench-token',
      LOG_LEVEL: 'error',
      EEPORT_LOCAL: 'true',
      POLL_AUTH_DISABLED: 'true',
      POLL_WINDOW_SECONDS: '0',
      WEBHOOK_ALLOW_HTTP: 'true',
      WEBHOOK_ALLOW_LOOPBACK: 'true',
      WEBHOOK_SECRETS: WEBHOOK_SECRET,
      UPLOAD_RULES: JSON.stringify(UPLOAD_RULES),
      API_AUTH: 'none',
    };
    if (hosts) {
      sim = await startSimulator();
      receiver = createServer((req, res) => {
        req.resume();
        req.on('end', () => res.writeHead(204).end());
      });
      await new Promise<void>((r) => receiver!.listen(0, '127.0.0.1', () => r()));
      receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
      Object.assign(env, { FIRESTORE_EMULATOR_HOST: hosts.firestoreHost, PUBSUB_EMULATOR_HOST: hosts.pubsubHost, EE_API_ROOT: sim.url });
      // The functions publish their events; the emulator has no topic until someone creates it.
      const topic = await fetch(`http://${hosts.pubsubHost}/v1/projects/${project}/topics/eeport-events`, { method: 'PUT' });
      if (!topic.ok && topic.status !== 409) throw new Error(`creating the events topic failed: ${topic.status} ${await topic.text()}`);
      const tap = await fetch(`http://${hosts.pubsubHost}/v1/projects/${project}/subscriptions/${TAP}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ topic: `projects/${project}/topics/eeport-events` }),
      });
      if (!tap.ok && tap.status !== 409) throw new Error(`creating the events tap failed: ${tap.status} ${await tap.text()}`);
    } else {
      notes.push('cold start: first-event figures skipped (they need the Firestore and Pub/Sub emulators); import figures measured');
    }

    const rows: Result[] = [];
    for (const b of bundles) {
      const target = b.target.name;
      const recipe = FIRST_EVENT[target];
      if (!recipe) notes.push(`cold start: no first-event recipe for ${target}; import measured only`);
      const atStart = clientsIn(b, true);
      const calls = !!(hosts && recipe && atStart.includes('@google-cloud/firestore'));
      const publishes = calls && clientsIn(b).includes('@google-cloud/pubsub');
      const publish = publishes && PUBLISHES.has(target);
      // What the function has loaded by the end of its first event: what it loads at start, then Pub/Sub's chunk where it publishes.
      const clients = GOOGLE_CLIENTS.filter((c) => atStart.includes(c) || (publish && c === '@google-cloud/pubsub'));
      const bundleTimes: ChildTimes[] = [];
      const baseTimes: ChildTimes[] = [];
      // The baseline makes the function's first calls when there are emulators to call (and the bundle has the Firestore client);
      // a client the bundle loads only on first use is imported by the baseline just before its call, as the function does.
      const baseCfg = { root: REPO_ROOT, modules: atStart, lazyModules: clients.filter((c) => !atStart.includes(c)), calls, publish };
      if (opts.warmup !== false) {
        // One untimed run of each warms the OS file cache, so the first timed run is not an outlier of disk reads.
        await runChild(BASELINE_CHILD, env, baseCfg);
        await runChild(BUNDLE_CHILD, env, { bundle: join(b.dir, 'index.js'), target, request: null });
      }
      let publishedRuns = 0;
      for (let i = 0; i < runs; i++) {
        const request = hosts && recipe ? recipe({ receiverUrl, project }) : null;
        if (hosts) await drainTap(hosts, project);
        const t = await runChild(BUNDLE_CHILD, env, { bundle: join(b.dir, 'index.js'), target, request });
        if (request && !request.ok.includes(t.status ?? 0)) throw new Error(`${target}: first event answered ${t.status}, expected ${request.ok.join('/')}; its logs:\n${t.output}`);
        bundleTimes.push(t);
        // The function's publish is over when it answers: what the tap holds now is what this first event published.
        const published = !!hosts && publishes && (await drainTap(hosts, project)) > 0;
        if (published) publishedRuns++;
        baseTimes.push(await runChild(BASELINE_CHILD, env, published && !publish ? { ...baseCfg, publish: true, lazyModules: clients.includes('@google-cloud/pubsub') ? baseCfg.lazyModules : [...baseCfg.lazyModules, '@google-cloud/pubsub'] } : baseCfg));
      }
      const med = (xs: number[]) => percentile(xs, 50);
      // The import-only rows compare what each side loads before any event: the clients the bundle loads at start.
      const baseline = { name: `bare import of ${atStart.join(' + ') || '(no Google client)'} from node_modules, median of ${runs}`, value: med(baseTimes.map((t) => t.import)), unit: 'ms' };
      rows.push(result({ name: `cold start ${target}: import bundle, median of ${runs}`, value: med(bundleTimes.map((t) => t.import)), unit: 'ms' }, baseline));
      if (hosts && recipe) {
        const firstEvent = bundleTimes.map((t) => t.import + (t.firstEvent ?? 0));
        const publishing = publish ? ' + one publish' : publishedRuns ? ` + one publish in the ${publishedRuns} of ${runs} runs whose first event published` : '';
        const calls = baseCfg.calls ? `one Firestore read${publishing}` : 'no call';
        const loaded = publishedRuns && !clients.includes('@google-cloud/pubsub') ? [...clients, '@google-cloud/pubsub (where it published)'] : clients;
        const withCalls = { name: `bare import of ${loaded.join(' + ') || '(no Google client)'} + the same first calls (${calls}), median of ${runs}`, value: med(baseTimes.map((t) => t.import + (t.firstEvent ?? 0))), unit: 'ms' };
        rows.push(result({ name: `cold start, ${target}, first event handled (emulators), median of ${runs}`, value: med(firstEvent), unit: 'ms' }, withCalls));
      }
      rows.push(
        result(
          { name: `bundle ${target}: zip`, value: b.zipBytes / 1024, unit: 'KiB' },
          { name: `source bytes of the ${b.inputs.length} modules bundled`, value: sourceBytes(b) / 1024, unit: 'KiB' },
        ),
      );
      notes.push(
        `cold start ${target}: ${(b.startBytes / 2 ** 20).toFixed(2)} MiB of JavaScript loaded at start (index.js and its static chunks) of ${(b.totalBytes / 2 ** 20).toFixed(2)} MiB in all; node boot ${med(bundleTimes.map((t) => t.boot)).toFixed(0)} ms and functions framework ${med(bundleTimes.map((t) => t.framework)).toFixed(0)} ms come before the import (not counted)`,
      );
    }
    return rows;
  } finally {
    await sim?.close();
    if (receiver) await new Promise((r) => receiver!.close(r));
    await Promise.all(own.running.map((e) => e.stop()));
  }
}

async function main(): Promise<number> {
  const notes: string[] = [];
  const rows = await coldStartFigures({ notes });
  const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1));
  for (const r of rows) {
    console.log(`${r.name}: ${fmt(r.value)} ${r.unit}${r.baseline ? `  (baseline ${r.baseline.name}: ${fmt(r.baseline.value)} ${r.baseline.unit}; ratio ${r.ratio?.toFixed(2)})` : ''}`);
  }
  for (const n of notes) console.log(`- ${n}`);
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // The emulators' clients and the simulator keep handles open: exit explicitly.
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
