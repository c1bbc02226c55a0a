/**
 * The `eeport` CLI end to end: run as a child process through its bin launcher
 * (tools/cli/bin.js) against the `api` function served on 127.0.0.1 by this process,
 * over the Firestore and Pub/Sub emulators and the Earth Engine simulator. While a
 * `--wait` or `watch` runs, the test moves the simulator's clock and runs the poller.
 *
 * Every CLI run is asynchronous (spawn, never spawnSync): the API it talks to lives in
 * this process's event loop.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import '../../functions/src/entry/api.entry.ts';
import '../../functions/src/entry/submit-export.entry.ts';
import { startSimulator, type Simulator } from '../../tools/ee-simulator/index.ts';
import { emulatorsOrSkip } from '../harness/emulators.ts';
import { startTestStack, testConfig, type TestStack } from '../harness/stack.ts';
import { assetLoadRequest, jsClientRequest } from '../fakes/requests.ts';
import { BatchSubmitResponseSchema, BatchViewSchema, BudgetsResponseSchema, EstimateAccuracyResponseSchema, EstimateResponseSchema, JobListResponseSchema, JobViewSchema, SubmitResponseSchema } from '../../functions/src/core/api/api-contract.ts';
import { exportRequestJsonSchema } from '../../functions/src/core/requests/export-request.schema.ts';
import { jobIdFor } from '../../functions/src/core/jobs/ids.ts';
import type { Adapters } from '../../functions/src/composition-root.ts';

const emu = emulatorsOrSkip('eeport CLI');

const BIN = fileURLToPath(new URL('../../tools/cli/bin.js', import.meta.url));
const JOB_ID = /^[0-9a-f]{32}$/;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  input?: string;
  env?: Record<string, string>;
  /** Called with stdout / stderr as they grow. */
  onStdout?: (all: string) => void;
  onStderr?: (all: string) => void;
  /** Called with the process, e.g. to send it a signal. */
  onChild?: (child: ChildProcess) => void;
}

/** The environment of every CLI run: the test's, minus anything that would point the CLI elsewhere. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(EEPORT_|PUBSUB_|FIRESTORE_|GOOGLE_|EE_|REQUESTS_TOPIC$|FORCE_COLOR$)/.test(k)) env[k] = v;
  }
  // A local stack someone runs meanwhile must not be found.
  return { ...env, NO_COLOR: '1', EEPORT_STACK_FILE: join(tmpdir(), 'eeport-no-stack-file.json'), ...extra };
}

function eeport(args: string[], opts: RunOptions = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: childEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      opts.onStdout?.(stdout);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      opts.onStderr?.(stderr);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    opts.onChild?.(child);
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/** The functions' own log lines (a FAILED job logs at ERROR) are not this file's business. */
const quiet = (a: Adapters): Adapters => ({ ...a, logSink: { write: () => undefined } });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

describe.skipIf(!emu)('eeport CLI (api function over emulators + simulator)', () => {
  let sim: Simulator;
  let stack: TestStack;
  let server: Server;
  let api: string;
  let dir: string;
  const env = { POLL_WINDOW_SECONDS: '0', WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOW_LOOPBACK: 'true', EE_ALLOWED_PROJECTS: 'ee-test-project,ee-other-project' };

  /** `eeport --api <this API> …` */
  const cli = (args: string[], opts: RunOptions = {}) => eeport(['--api', api, ...args], opts);
  const file = (name: string, body: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, typeof body === 'string' ? body : JSON.stringify(body));
    return path;
  };
  const post = async (path: string, body: unknown) => {
    const res = await fetch(new URL(path, api), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as unknown };
  };
  const submitDirect = async (body: unknown) => SubmitResponseSchema.parse((await post('/v1/jobs', body)).body);

  /** Runs simulated time and poll cycles until `done()` (or ~20 s). */
  async function drive(done: () => boolean | Promise<boolean>, step = 60_000) {
    for (let i = 0; i < 100 && !(await done()); i++) {
      sim.clock.advance(step);
      await stack.services.pollExports().run();
      await sleep(200);
    }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'eeport-cli-'));
    sim = await startSimulator({ clock: { mode: 'manual' } });
    stack = await startTestStack(testConfig(emu!, sim.url, env), quiet);
    // The api function's own test server, on a port the CLI can be pointed at; it serves whichever stack is current.
    server = getTestServer('api');
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    await stack?.close();
    await sim?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await stack.close();
    await emu!.clear();
    sim.reset();
    stack = await startTestStack(testConfig(emu!, sim.url, env), quiet);
  });

  describe('submit', () => {
    it('a request FILE: prints the job id only on stdout; options become the envelope', async () => {
      const path = file('req.json', jsClientRequest());
      const r = await cli(['submit', path, '--label', 'team=forest', '--label', 'run=a1', '--project', 'ee-other-project', '--idempotency-key', 'cli-1']);
      expect(r.code, r.stderr).toBe(0);
      const id = r.stdout.trim();
      expect(id).toMatch(JOB_ID);
      expect(id).toBe(jobIdFor({ kind: 'key', key: 'cli-1' }));
      expect(r.stderr).toMatch(/submitted: PENDING/);
      const s = await cli(['status', id, '--json']);
      expect(s.code, s.stderr).toBe(0);
      const job = JobViewSchema.parse(JSON.parse(s.stdout));
      expect(job).toMatchObject({ jobId: id, state: 'PENDING', eeProject: 'ee-other-project', labels: { team: 'forest', run: 'a1' }, identity: 'key:cli-1' });
      expect(sim.tasks('ee-other-project')).toHaveLength(1);
      // The same key again: the same job, said so, nothing new started.
      const again = await cli(['submit', path, '--idempotency-key', 'cli-1', '--project', 'ee-other-project']);
      expect(again.code).toBe(0);
      expect(again.stdout.trim()).toBe(id);
      expect(again.stderr).toMatch(/existing job/);
      expect(sim.stats().tasksStarted).toBe(1);
    });

    it('an envelope on stdin ("-") with --json: the API’s answer, parseable', async () => {
      const envelope = { request: assetLoadRequest(), labels: { team: 'water' }, idempotencyKey: 'stdin-1' };
      const r = await cli(['submit', '-', '--json'], { input: JSON.stringify(envelope) });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      const out = SubmitResponseSchema.parse(JSON.parse(r.stdout));
      expect(out).toMatchObject({ state: 'PENDING', duplicate: false, job: { labels: { team: 'water' }, identity: 'key:stdin-1' } });
      // A flag that contradicts the envelope is refused rather than one silently winning.
      const clash = await cli(['submit', '-', '--idempotency-key', 'other'], { input: JSON.stringify(envelope) });
      expect(clash.code).toBe(2);
      expect(clash.stderr).toMatch(/--idempotency-key "other" contradicts the envelope's idempotencyKey "stdin-1"/);
    });

    it('--wait follows the job to SUCCEEDED (progress lines on stderr) and exits 0', async () => {
      const path = file('wait.json', assetLoadRequest());
      let id: string | null = null;
      let progress = '';
      const running = cli(['submit', path, '--wait', '--interval', '0.2'], { onStdout: (out) => (id = out.trim().split('\n')[0] || null), onStderr: (err) => (progress = err) });
      let exited = false;
      void running.then(() => (exited = true));
      for (let i = 0; i < 100 && !id && !exited; i++) await sleep(100);
      expect(id).toMatch(JOB_ID);
      // Step the clock until the job runs, hold it there until the CLI has shown it, then run it to the end.
      const state = async () => JobViewSchema.parse(await (await fetch(new URL(`/v1/jobs/${id}`, api))).json()).state;
      await drive(async () => exited || (await state()) === 'RUNNING', 5_000);
      for (let i = 0; i < 100 && !/RUNNING/.test(progress) && !exited; i++) await sleep(100);
      await drive(() => exited, 20_000);
      const r = await running;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(id);
      expect(r.stderr).toMatch(/PENDING/);
      expect(r.stderr).toMatch(/RUNNING/);
      expect(r.stderr).toMatch(new RegExp(`${id}  SUCCEEDED after .*EECU-s → `));
    });

    it('--wait --json: one JSON document at the end; a job that FAILED exits 1', async () => {
      sim.faults.inject({ kind: 'task-failure', match: { description: 'doomed' }, code: 3, message: 'User memory limit exceeded.' });
      const path = file('doomed.json', assetLoadRequest('projects/p/assets/a', { description: 'doomed export' }));
      let started = false;
      const running = cli(['submit', path, '--wait', '--json', '--interval', '0.2'], { onStdout: () => (started = true) });
      let exited = false;
      void running.then(() => (exited = true));
      await sleep(1500);
      expect(started).toBe(false); // --json prints nothing until the end
      await drive(() => exited);
      const r = await running;
      expect(r.code, r.stderr).toBe(1);
      const out = JSON.parse(r.stdout) as { jobId: string; state: string; job: unknown };
      expect(out.state).toBe('FAILED');
      expect(JobViewSchema.parse(out.job)).toMatchObject({ state: 'FAILED', error: { message: expect.stringMatching(/memory/) } });
    });
  });

  describe('status, list, cancel', () => {
    it('status prints the job for people', async () => {
      const out = await submitDirect({ request: assetLoadRequest(), labels: { team: 'forest' } });
      const r = await cli(['status', out.jobId]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`job\\s+${out.jobId}`));
      expect(r.stdout).toMatch(/state\s+PENDING/);
      expect(r.stdout).toMatch(/labels\s+team=forest/);
      expect(r.stdout).toMatch(/operation\s+projects\/ee-test-project\/operations\//);
    });

    it('list: filters by state and label, --limit pages, --all, --json parses', async () => {
      const a = await submitDirect({ request: assetLoadRequest(), labels: { team: 'forest' } });
      const b = await submitDirect({ request: assetLoadRequest(), labels: { team: 'forest' } });
      const c = await submitDirect({ request: assetLoadRequest(), labels: { team: 'water' } });
      await post(`/v1/jobs/${c.jobId}:cancel`, {});

      const forest = await cli(['list', '--label', 'team=forest', '--json']);
      expect(forest.code, forest.stderr).toBe(0);
      const page = JobListResponseSchema.parse(JSON.parse(forest.stdout));
      expect(page.jobs.map((j) => j.jobId).sort()).toEqual([a.jobId, b.jobId].sort());

      const pending = JobListResponseSchema.parse(JSON.parse((await cli(['list', '--state', 'pending', '--json'])).stdout));
      expect(pending.jobs.map((j) => j.jobId).sort()).toEqual([a.jobId, b.jobId].sort());
      const stopped = JobListResponseSchema.parse(JSON.parse((await cli(['list', '--state', 'CANCELLING,CANCELLED', '--label', 'team:water', '--json'])).stdout));
      expect(stopped.jobs.map((j) => j.jobId)).toEqual([c.jobId]);

      const one = JobListResponseSchema.parse(JSON.parse((await cli(['list', '--limit', '1', '--json'])).stdout));
      expect(one.jobs).toHaveLength(1);
      expect(one.nextPageToken).toBeTruthy();
      const all = JobListResponseSchema.parse(JSON.parse((await cli(['list', '--all', '--json'])).stdout));
      expect(all.jobs).toHaveLength(3);
      expect(all.nextPageToken).toBeNull();

      const human = await cli(['list']);
      expect(human.code).toBe(0);
      expect(human.stdout.split('\n')[0]).toMatch(/^JOB\s+STATE\s+PROGRESS\s+PROJECT\s+UPDATED\s+DESCRIPTION/);
      for (const id of [a.jobId, b.jobId, c.jobId]) expect(human.stdout).toContain(id);

      expect((await cli(['list', '--state', 'DONE'])).code).toBe(2);
      expect((await cli(['list', '--all', '--limit', '5'])).code).toBe(2);
    });

    it('cancel: a live job → 0 (cancelling); once it has ended → 1; --json parses', async () => {
      const out = await submitDirect({ request: assetLoadRequest() });
      const r = await cli(['cancel', out.jobId, '--reason', 'not needed']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/cancelling/);
      const state = async () => JobViewSchema.parse(await (await fetch(new URL(`/v1/jobs/${out.jobId}`, api))).json()).state;
      await drive(async () => (await state()) === 'CANCELLED', 1_000);
      const job = JobViewSchema.parse(JSON.parse((await cli(['status', out.jobId, '--json'])).stdout));
      expect(job.state).toBe('CANCELLED');
      const again = await cli(['cancel', out.jobId, '--json']);
      expect(again.code).toBe(1);
      expect(JSON.parse(again.stdout)).toMatchObject({ jobId: out.jobId, outcome: 'already-ended', state: 'CANCELLED' });
    });
  });

  describe('watch', () => {
    it('follows the given jobs to their end; --json prints one JSON line per change', async () => {
      const a = await submitDirect({ request: assetLoadRequest() });
      const b = await submitDirect({ request: assetLoadRequest() });
      let exited = false;
      let out = '';
      const running = cli(['watch', a.jobId, b.jobId, '--json', '--interval', '0.2'], { onStdout: (o) => (out = o) });
      void running.then(() => (exited = true));
      // Both PENDING lines first, so that every job changes at least once while watched.
      for (let i = 0; i < 100 && out.split('\n').length < 3 && !exited; i++) await sleep(100);
      await drive(() => exited, 20_000);
      const r = await running;
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { jobId: string; state: string });
      expect(lines.length).toBeGreaterThanOrEqual(4);
      for (const id of [a.jobId, b.jobId]) expect(lines.filter((l) => l.jobId === id).at(-1)?.state).toBe('SUCCEEDED');
    });

    it('Ctrl-C stops it cleanly: exit 130, one line saying the jobs keep running', async () => {
      const a = await submitDirect({ request: assetLoadRequest() });
      let child: ChildProcess | undefined;
      let seen = false;
      const running = cli(['watch', a.jobId, '--json', '--interval', '0.2'], { onChild: (c) => (child = c), onStdout: () => (seen = true) });
      for (let i = 0; i < 100 && !seen; i++) await sleep(100);
      child!.kill('SIGINT');
      const r = await running;
      expect(r.code).toBe(130);
      expect(JSON.parse(r.stderr)).toMatchObject({ error: { exitCode: 130, message: expect.stringMatching(/Ctrl-C.*keep running/) } });
      expect(JSON.parse(r.stdout.trim().split('\n')[0]!)).toMatchObject({ jobId: a.jobId, state: 'PENDING' });
    });

    it('without ids, follows every live job; none live → exits 0 at once', async () => {
      const none = await cli(['watch']);
      expect(none.code, none.stderr).toBe(0);
      expect(none.stderr).toMatch(/no live jobs/);
      const a = await submitDirect({ request: assetLoadRequest() });
      let exited = false;
      let progress = '';
      const running = cli(['watch', '--interval', '0.2'], { onStderr: (e) => (progress = e) });
      void running.then(() => (exited = true));
      for (let i = 0; i < 100 && !progress.includes(a.jobId.slice(0, 8)) && !exited; i++) await sleep(100);
      await drive(() => exited);
      const r = await running;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(new RegExp(`${a.jobId.slice(0, 8)}.*SUCCEEDED`));
    });
  });

  describe('errors and exit codes', () => {
    it('a missing job → 3 (one line on stderr; JSON with --json, nothing on stdout)', async () => {
      const missing = '0'.repeat(32);
      const r = await cli(['status', missing]);
      expect(r.code).toBe(3);
      expect(r.stderr.trim()).toBe(`eeport: no job ${missing}`);
      expect(r.stdout).toBe('');
      const j = await cli(['status', missing, '--json']);
      expect(j.code).toBe(3);
      expect(j.stdout).toBe('');
      expect(JSON.parse(j.stderr)).toMatchObject({ error: { exitCode: 3, code: 'API.NOT_FOUND', status: 404 } });
      expect((await cli(['cancel', missing])).code).toBe(3);
    });

    it('a bad file → 2: missing, not JSON, not an object, or refused by the API (with the path)', async () => {
      const missing = await cli(['submit', join(dir, 'nope.json')]);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/cannot read .*nope\.json: no such file/);
      const notJson = await cli(['submit', file('bad.json', '{"description": ')]);
      expect(notJson.code).toBe(2);
      expect(notJson.stderr).toMatch(/is not valid JSON/);
      expect((await cli(['submit', file('arr.json', [1, 2])])).code).toBe(2);
      expect((await cli(['submit', '-'], { input: '' })).code).toBe(2);
      const invalid = await cli(['submit', file('invalid.json', jsClientRequest({ fileExportOptions: { driveDestination: {}, fileFormat: 'BMP' } }))]);
      expect(invalid.code).toBe(2);
      expect(invalid.stderr).toMatch(/fileExportOptions\.fileFormat/);
      expect(invalid.stderr.trim().split('\n')).toHaveLength(1);
      expect(invalid.stderr).not.toMatch(/\n\s+at /);
    });

    it('usage errors → 2: a malformed job id, an unknown option or command, no command', async () => {
      expect((await cli(['status', 'not-a-job'])).code).toBe(2);
      const opt = await cli(['list', '--bogus']);
      expect(opt.code).toBe(2);
      expect(opt.stderr).toMatch(/unknown option '--bogus'/);
      expect((await eeport(['stauts'])).code).toBe(2);
      expect((await eeport([])).code).toBe(2);
      expect((await cli(['submit', 'x.json', '--via', 'carrier-pigeon'])).code).toBe(2);
    });

    it('an unreachable API → 4 with what to do; from --api, EEPORT_API_URL, or the stack file', async () => {
      const port = await deadPort();
      const r = await eeport(['--api', `http://127.0.0.1:${port}`, 'list']);
      expect(r.code).toBe(4);
      expect(r.stderr.trim()).toMatch(new RegExp(`^eeport: cannot reach the eeport API at http://127\\.0\\.0\\.1:${port} \\(.*ECONNREFUSED.*\\); check --api$`));
      const env = await eeport(['list', '--json'], { env: { EEPORT_API_URL: `http://127.0.0.1:${port}` } });
      expect(env.code).toBe(4);
      expect(JSON.parse(env.stderr)).toMatchObject({ error: { exitCode: 4 } });
      const stackFile = file('stack.json', { apiUrl: `http://127.0.0.1:${port}`, somethingElse: 1 });
      const stale = await eeport(['list'], { env: { EEPORT_STACK_FILE: stackFile } });
      expect(stale.code).toBe(4);
      expect(stale.stderr).toMatch(/is `npm start` still running\?/);
    });

    it('the local stack’s .eeport/stack.json is where it talks by default', async () => {
      const out = await submitDirect({ request: assetLoadRequest() });
      const stackFile = file('stack-live.json', { apiUrl: api, pubsubEmulatorHost: 'ignored:1', projectId: 'p' });
      const r = await eeport(['status', out.jobId, '--json'], { env: { EEPORT_STACK_FILE: stackFile } });
      expect(r.code, r.stderr).toBe(0);
      expect(JobViewSchema.parse(JSON.parse(r.stdout)).jobId).toBe(out.jobId);
      // A malformed file is no file: the default address, which nothing answers here.
      const broken = await eeport(['list'], { env: { EEPORT_STACK_FILE: file('broken.json', '{') } });
      expect(broken.code === 0 || /127\.0\.0\.1:8182/.test(broken.stderr), broken.stderr).toBe(true);
    });
  });

  describe('schema', () => {
    it('prints each JSON Schema as valid JSON; request is the generated file', async () => {
      const req = await eeport(['schema']);
      expect(req.code).toBe(0);
      expect(JSON.parse(req.stdout)).toEqual(exportRequestJsonSchema());
      expect(JSON.parse(req.stdout)).toEqual(JSON.parse(readFileSync(fileURLToPath(new URL('../../docs/schemas/export-image-request.schema.json', import.meta.url)), 'utf8')));
      const envelope = JSON.parse((await eeport(['schema', 'envelope'])).stdout) as { required: string[] };
      expect(envelope.required).toEqual(['request']);
      const batch = JSON.parse((await eeport(['schema', 'batch', '--json'])).stdout) as { $id: string; properties: Record<string, unknown> };
      expect(batch.$id).toBe('urn:eeport:schema:batch:v1');
      expect(Object.keys(batch.properties)).toEqual(expect.arrayContaining(['requests', 'template', 'fanOut', 'tiles', 'batchId']));
      expect((await eeport(['schema', 'nope'])).code).toBe(2);
    });
  });

  describe('sim', () => {
    it('runs the Earth Engine simulator until Ctrl-C; --json prints where', async () => {
      let child: ChildProcess | undefined;
      let url: string | null = null;
      const running = eeport(['sim', '--port', '0', '--manual', '--json'], { onChild: (c) => (child = c), onStdout: (o) => (url = o.includes('\n') ? (JSON.parse(o.split('\n')[0]!) as { url: string }).url : null) });
      for (let i = 0; i < 100 && !url; i++) await sleep(100);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const stats = await fetch(`${url}/_sim/stats`);
      expect(stats.status).toBe(200);
      child!.kill('SIGINT');
      const r = await running;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
    });
  });

  describe('--via pubsub', () => {
    it('publishes to the requests topic (emulator); the job id it prints is the one submitExport makes', async () => {
      const topic = stack.config.REQUESTS_TOPIC;
      const [t] = await stack.pubsub.topic(topic).get({ autoCreate: true });
      const [sub] = await t.createSubscription(`cli-test-${Date.now()}`);
      const pubsubEnv = { PUBSUB_EMULATOR_HOST: emu!.pubsubHost };
      const r = await cli(['submit', file('ps.json', assetLoadRequest()), '--via', 'pubsub', '--cloud-project', emu!.projectId, '--label', 'via=pubsub'], { env: pubsubEnv });
      expect(r.code, r.stderr).toBe(0);
      const id = r.stdout.trim();
      expect(id).toMatch(JOB_ID);
      expect(r.stderr).toMatch(new RegExp(`published to projects/${emu!.projectId}/topics/${topic}`));

      // Deliver it as Eventarc would (same message id and source), then the API knows the job by that id.
      const base = `http://${emu!.pubsubHost}/v1/${sub.name}`;
      const pulled = (await (await fetch(`${base}:pull`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ maxMessages: 10, returnImmediately: true }) })).json()) as {
        receivedMessages?: { ackId: string; message: { data: string; messageId: string; attributes?: Record<string, string> } }[];
      };
      expect(pulled.receivedMessages).toHaveLength(1);
      // Acknowledged, or the subscription hands it back after its 10 s ack deadline, into a later pull.
      const ack = (ackIds: string[]) => fetch(`${base}:acknowledge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ackIds }) });
      await ack([pulled.receivedMessages![0]!.ackId]);
      const m = pulled.receivedMessages![0]!.message;
      expect(JSON.parse(Buffer.from(m.data, 'base64').toString())).toMatchObject({ request: { description: 'asset export' }, labels: { via: 'pubsub' } });
      await stack.deliverUntilAcked('submitExport', { data: Buffer.from(m.data, 'base64'), attributes: m.attributes ?? {}, messageId: m.messageId });
      const job = JobViewSchema.parse(JSON.parse((await cli(['status', id, '--json'])).stdout));
      expect(job).toMatchObject({ jobId: id, state: 'PENDING', labels: { via: 'pubsub' } });

      // A bad request is refused before anything is published.
      const bad = await cli(['submit', file('ps-bad.json', { description: 'no expression' }), '--via', 'pubsub', '--cloud-project', emu!.projectId], { env: pubsubEnv });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/invalid.*expression/);
      // Cancel through the topic: an action=cancel message naming the job.
      const cancel = await cli(['cancel', id, '--via', 'pubsub', '--cloud-project', emu!.projectId, '--json'], { env: pubsubEnv });
      expect(cancel.code, cancel.stderr).toBe(0);
      const again = (await (await fetch(`${base}:pull`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ maxMessages: 10, returnImmediately: true }) })).json()) as {
        receivedMessages?: { ackId: string; message: { attributes?: Record<string, string> } }[];
      };
      expect(again.receivedMessages?.map((x) => x.message.attributes)).toEqual([{ action: 'cancel', jobId: id }]);
      await ack(again.receivedMessages!.map((x) => x.ackId));
      const badBatch = await cli(['batch', 'submit', '-', '--via', 'pubsub', '--cloud-project', emu!.projectId], { env: pubsubEnv, input: JSON.stringify({ requests: [{ description: 'x' }] }) });
      expect(badBatch.code).toBe(2);
      expect(badBatch.stderr).toMatch(/batch\.children\[0\]/);
      // A batch through the topic: its id is derived from its batchId, as submitExport does.
      const batch = await cli(['submit', file('ps-batch.json', { batch: { batchId: 'ps-batch', requests: [assetLoadRequest()] } }), '--via', 'pubsub', '--cloud-project', emu!.projectId], { env: pubsubEnv });
      expect(batch.code, batch.stderr).toBe(0);
      expect(batch.stdout.trim()).toBe(jobIdFor({ kind: 'key', key: 'batch:ps-batch' }));
      const batchMsg = (await (await fetch(`${base}:pull`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ maxMessages: 10, returnImmediately: true }) })).json()) as {
        receivedMessages: { message: { data: string; messageId: string } }[];
      };
      expect(batchMsg.receivedMessages).toHaveLength(1);
      const bm = batchMsg.receivedMessages[0]!.message;
      await stack.deliverUntilAcked('submitExport', { data: Buffer.from(bm.data, 'base64'), messageId: bm.messageId });
      const status = await cli(['batch', 'status', 'ps-batch', '--json']);
      expect(status.code, status.stderr).toBe(0);
      expect(BatchViewSchema.parse(JSON.parse(status.stdout)).batchId).toBe(batch.stdout.trim());
      // No project for the topic: a usage error.
      expect((await cli(['submit', file('ps2.json', assetLoadRequest()), '--via', 'pubsub'], { env: pubsubEnv })).code).toBe(2);
      await sub.delete();
    });
  });

  describe('batches and budgets', () => {
    const batchSpec = { batchId: 'cli-batch', description: 'two tiles', requests: [assetLoadRequest('projects/p/assets/a'), assetLoadRequest('projects/p/assets/b')] };

    it('batch submit (API) → the batch id; batch status / list; --json parses', async () => {
      const r = await cli(['batch', 'submit', file('batch.json', { batch: batchSpec }), '--json']);
      expect(r.code, r.stderr).toBe(0);
      const out = BatchSubmitResponseSchema.parse(JSON.parse(r.stdout));
      expect(out.batchId).toBe(jobIdFor({ kind: 'key', key: 'batch:cli-batch' }));
      expect(out.total).toBe(2);
      // `submit` of a {"batch": …} file goes to the batch endpoint too: the same batch, a duplicate.
      const dup = await cli(['submit', file('batch2.json', { batch: batchSpec })]);
      expect(dup.code, dup.stderr).toBe(0);
      expect(dup.stdout.trim()).toBe(out.batchId);
      expect(dup.stderr).toMatch(/existing batch/);
      // By id or by its batchId.
      for (const ref of [out.batchId, 'cli-batch']) {
        const s = await cli(['batch', 'status', ref, '--json']);
        expect(s.code, s.stderr).toBe(0);
        expect(BatchViewSchema.parse(JSON.parse(s.stdout)).batchId).toBe(out.batchId);
      }
      const withJobs = await cli(['batch', 'status', 'cli-batch', '--jobs']);
      expect(withJobs.code, withJobs.stderr).toBe(0);
      expect(withJobs.stdout).toMatch(/batch\s+[0-9a-f]{32}/);
      expect(withJobs.stdout).toMatch(/^JOB\s+STATE/m);
      const list = await cli(['batch', 'list', '--json']);
      expect(list.code, list.stderr).toBe(0);
      expect((JSON.parse(list.stdout) as { batches: { batchId: string }[] }).batches.map((b) => b.batchId)).toEqual([out.batchId]);
      expect((await cli(['batch', 'status', 'f'.repeat(32)])).code).toBe(3);
    });

    it('batch submit --wait follows it to SUCCEEDED; batch cancel of an ended batch → 1', async () => {
      let id: string | null = null;
      const running = cli(['batch', 'submit', file('bw.json', batchSpec), '--wait', '--interval', '0.2'], { onStdout: (o) => (id = o.trim() || null) });
      let exited = false;
      void running.then(() => (exited = true));
      for (let i = 0; i < 100 && !id && !exited; i++) await sleep(100);
      await drive(() => exited);
      const r = await running;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/batch [0-9a-f]{32}\s+SUCCEEDED/);
      const cancel = await cli(['batch', 'cancel', id!]);
      expect(cancel.code).toBe(1);
      expect(cancel.stderr).toMatch(/already ended/);
      const retry = await cli(['batch', 'retry', id!]);
      expect(retry.code, retry.stderr).toBe(0);
      expect(retry.stdout).toMatch(/nothing to retry/);
      // Only a STOPPED batch resumes: this one ended.
      const resume = await cli(['batch', 'resume', id!, '--max-eecu-seconds', '100']);
      expect(resume.code).toBe(1);
      expect(resume.stderr).toMatch(/SUCCEEDED, not STOPPED/);
    });

    it('an invalid batch → 2, naming the child and path', async () => {
      const r = await cli(['batch', 'submit', '-'], { input: JSON.stringify({ requests: [assetLoadRequest(), { description: 'x' }] }) });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/children\[1\]/);
    });

    it('budgets and stats --json parse', async () => {
      const b = await cli(['budgets', '--json']);
      expect(b.code, b.stderr).toBe(0);
      expect(BudgetsResponseSchema.parse(JSON.parse(b.stdout)).budgets).toEqual([]);
      expect((await cli(['budgets'])).stdout).toMatch(/no budgets/);
      await submitDirect({ request: assetLoadRequest() });
      const s = await cli(['stats', '--json']);
      expect(s.code, s.stderr).toBe(0);
      expect(JSON.parse(s.stdout)).toMatchObject({ total: 1, counts: { PENDING: 1 } });
    });

    it('estimate FILE (a job, a batch) and estimate-accuracy: nothing is submitted; --json parses', async () => {
      const grid = { dimensions: { width: 1000, height: 1000 }, crsCode: 'EPSG:4326' };
      const j = await cli(['estimate', file('est.json', assetLoadRequest('projects/p/assets/a', { grid })), '--json', '--label', 'team=forest']);
      expect(j.code, j.stderr).toBe(0);
      expect(EstimateResponseSchema.parse(JSON.parse(j.stdout))).toMatchObject({ tasks: 1, pixels: 1_000_000, method: 'prior' });
      const b = await cli(['estimate', file('est-batch.json', { batch: { ...batchSpec, requests: [...batchSpec.requests, assetLoadRequest('projects/p/assets/c'), assetLoadRequest('projects/p/assets/d')] } })]);
      expect(b.code, b.stderr).toBe(0);
      expect(b.stdout).toMatch(/tasks\s+4/);
      expect(b.stdout).toMatch(/method\s+prior/);
      expect((await cli(['estimate', '-'], { input: JSON.stringify({ description: 'x' }) })).code).toBe(2);
      const acc = await cli(['estimate-accuracy', '--json']);
      expect(acc.code, acc.stderr).toBe(0);
      expect(EstimateAccuracyResponseSchema.parse(JSON.parse(acc.stdout))).toEqual({ jobs: 0, methods: [] });
      expect(JobListResponseSchema.parse(JSON.parse((await cli(['list', '--json'])).stdout)).jobs).toEqual([]);
    });
  });

  describe('estimates beside actuals, schedules and chains', () => {
    it('status and batch status print each estimate beside what was used; --json carries the batch’s sum', async () => {
      const created = await post('/v1/batches', { batchId: 'est-batch', requests: [assetLoadRequest('projects/p/assets/a'), assetLoadRequest('projects/p/assets/b')] });
      expect(created.status).toBe(202);
      const batchId = BatchSubmitResponseSchema.parse(created.body).batchId;
      await drive(async () => BatchViewSchema.parse((await (await fetch(new URL(`/v1/batches/${batchId}`, api))).json()) as unknown).state === 'SUCCEEDED');
      const children = JobListResponseSchema.parse(await (await fetch(new URL(`/v1/batches/${batchId}/jobs`, api))).json()).jobs;
      expect(children.map((c) => c.state)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
      const child = children[0]!;
      const e = child.estimate!;
      expect(e.method).toBe('prior');
      const human = await cli(['status', child.jobId]);
      expect(human.code, human.stderr).toBe(0);
      const inBand = child.eecuSeconds! >= e.eecuSeconds.low && child.eecuSeconds! <= e.eecuSeconds.high;
      expect(human.stdout).toMatch(new RegExp(`estimate\\s+\\S+–\\S+ EECU-s, expected \\S+ \\(prior: [^\\n]+\\); actual \\S+: ${(child.eecuSeconds! / e.eecuSeconds.expected).toFixed(2)}× expected, ${inBand ? 'in the band' : '(above|below) the band'}`));
      const json = await cli(['batch', 'status', batchId, '--json']);
      expect(json.code, json.stderr).toBe(0);
      const out = JSON.parse(json.stdout) as { batchId: string; estimate: { batchId: string; total: number; estimated: number; eecuSeconds: { low: number; expected: number; high: number }; actualEecuSeconds: number } };
      expect(out.batchId).toBe(batchId);
      const sum = (f: (c: (typeof children)[number]) => number) => children.reduce((n, c) => n + f(c), 0);
      // Summed by the API in one aggregation (GET /v1/batches/{id}/estimate), not from the children's pages.
      expect(out.estimate).toMatchObject({ batchId, total: 2, estimated: 2 });
      for (const k of ['low', 'expected', 'high'] as const) expect(out.estimate.eecuSeconds[k]).toBeCloseTo(sum((c) => c.estimate!.eecuSeconds[k]), 6);
      expect(out.estimate.actualEecuSeconds).toBeCloseTo(sum((c) => c.eecuSeconds ?? 0), 6);
      const text = await cli(['batch', 'status', 'est-batch']);
      expect(text.stdout).toMatch(/estimate\s+\S+–\S+ EECU-s, expected \S+, summed over 2 of 2 children; they used \S+ \(per-method accuracy: eeport estimate-accuracy\)/);
      const withJobs = JSON.parse((await cli(['batch', 'status', batchId, '--jobs', '--json'])).stdout) as { estimate: unknown; jobs: unknown[] };
      expect(withJobs.estimate).toEqual(out.estimate);
    }, 120_000);

    it('schedule list / show: machine-readable JSON with --json, a table without', async () => {
      const schedule = { scheduleId: 'cli-daily', cadence: { cron: '0 2 * * *', timeZone: 'Europe/Berlin' }, request: { ...assetLoadRequest('projects/p/assets/day-{{window.startDate}}'), description: 'day {{window.startDate}}' } };
      const made = await cli(['schedule', 'create', file('schedule.json', schedule), '--json']);
      expect(made.code, made.stderr).toBe(0);
      const list = JSON.parse((await cli(['schedule', 'list', '--json'])).stdout) as { schedules: Array<{ scheduleId: string; state: string }>; nextPageToken: string | null };
      expect(list).toMatchObject({ schedules: [{ scheduleId: 'cli-daily', state: 'ACTIVE' }], nextPageToken: null });
      const shown = JSON.parse((await cli(['schedule', 'show', 'cli-daily', '--json'])).stdout) as { scheduleId: string; nextRuns: unknown[]; runs: unknown[] };
      expect(shown.scheduleId).toBe('cli-daily');
      expect(shown.nextRuns).toHaveLength(5);
      expect(shown.runs).toEqual([]);
      expect((await cli(['schedule', 'list'])).stdout).toMatch(/^SCHEDULE\s+STATE\s+CADENCE/m);
    }, 120_000);

    it('chain list / show: machine-readable JSON with --json, a table without; list pages', async () => {
      const root = { description: 'to asset', expression: assetLoadRequest('projects/p/assets/src').expression, assetExportOptions: { earthEngineDestination: { name: 'projects/ee-test-project/assets/cli-chain' } } };
      const cog = { ...assetLoadRequest('{{previous.assetId}}'), description: 'cog {{previous.jobId}}' };
      const chainIds: string[] = [];
      for (const key of ['chain-1', 'chain-2']) chainIds.push(await submitDirect({ request: root, idempotencyKey: key, then: [{ step: 'cog', request: cog }] }).then((r) => r.jobId));
      const chains = await cli(['chain', 'list', '--json']);
      expect(chains.code, chains.stderr).toBe(0);
      const page = JSON.parse(chains.stdout) as { chains: Array<{ chainId: string; state: string; steps: Array<{ step: string; state: string }> }>; nextPageToken: string | null };
      expect(page.chains.map((c) => c.chainId).sort()).toEqual([...chainIds].sort());
      expect(page.chains[0]!.steps.map((st) => st.step)).toEqual(['root', 'cog']);
      expect(page.nextPageToken).toBeNull();
      const one = JSON.parse((await cli(['chain', 'list', '--limit', '1', '--json'])).stdout) as typeof page;
      expect(one.chains).toHaveLength(1);
      expect(one.nextPageToken).not.toBeNull();
      const show = JSON.parse((await cli(['chain', 'show', chainIds[0]!, '--json'])).stdout) as { chainId: string; steps: Array<{ step: string; state: string }> };
      expect(show).toMatchObject({ chainId: chainIds[0], steps: [{ step: 'root' }, { step: 'cog', state: 'WAITING' }] });
      expect((await cli(['chain', 'list'])).stdout).toMatch(/^CHAIN\s+STATE\s+STEPS/m);
    }, 120_000);
  });
});

describe.skipIf(!emu)('eeport CLI against API_AUTH=api-key', () => {
  const KEY = 'cli-test-key-0123456789abcdef';
  let sim: Simulator;
  let stack: TestStack;
  let server: Server;
  let api: string;

  beforeAll(async () => {
    sim = await startSimulator({ clock: { mode: 'manual' } });
    await emu!.clear();
    stack = await startTestStack(testConfig(emu!, sim.url, { API_AUTH: 'api-key', API_KEYS: KEY }));
    server = getTestServer('api');
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    await stack?.close();
    await sim?.close();
  });

  it('no key → 5 with what to pass; --api-key or EEPORT_API_KEY → 0', async () => {
    const none = await eeport(['--api', api, 'list']);
    expect(none.code).toBe(5);
    expect(none.stderr).toMatch(/refused the credentials \(401 API\.UNAUTHENTICATED\).*--api-key/);
    const wrong = await eeport(['--api', api, 'list', '--api-key', 'x'.repeat(30), '--json']);
    expect(wrong.code).toBe(5);
    expect(JSON.parse(wrong.stderr)).toMatchObject({ error: { exitCode: 5, status: 401 } });
    expect((await eeport(['--api', api, 'list', '--api-key', KEY])).code).toBe(0);
    const viaEnv = await eeport(['list', '--json'], { env: { EEPORT_API_URL: api, EEPORT_API_KEY: KEY } });
    expect(viaEnv.code, viaEnv.stderr).toBe(0);
    expect(JobListResponseSchema.parse(JSON.parse(viaEnv.stdout)).jobs).toEqual([]);
  });
});
