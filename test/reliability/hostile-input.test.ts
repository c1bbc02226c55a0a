/**
 * Hostile input, property-based (fast-check; generators in lib/hostile.ts; the seed is
 * printed and RELIABILITY_SEED replays it):
 *  - the message parser (core intakeMessage) and the request schema (parseExportRequest)
 *    over thousands of generated inputs: never an exception, always ok or a list of errors
 *    with paths, shared prototypes never polluted;
 *  - the whole requests-topic path in memory (fakes), then a smaller sample end to end
 *    through submitExport on the emulators: always a 2xx, each message a REJECTED job or
 *    an accepted one, and the invariants hold after the accepted ones ran;
 *  - the HTTP api function's body handling: never a 5xx, every 4xx a JSON error with a code;
 *  - nothing expensive before authentication: the local stack in api-key mode, in a process
 *    of its own, answers a 300 KB gzip body that inflates to 300 MB, a batch that would
 *    expand to 300 MB and a `__proto__` query with 4xx, and its resident memory (peak,
 *    from /proc) grows by less than 10 MB. The times are printed against the 100 ms
 *    target, not asserted (timings belong in benchmarks, not in pass/fail).
 */
import { describe, it, expect, afterAll, beforeAll } from 'vitest';
import fc from 'fast-check';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createGzip } from 'node:zlib';
import '../../functions/src/entry/submit-export.entry.ts';
import '../../functions/src/entry/poll-exports.entry.ts';
import '../../functions/src/entry/api.entry.ts';
import { intakeMessage, type IncomingMessage, type IntakePolicy } from '../../functions/src/core/submit/intake.ts';
import { parseExportRequest } from '../../functions/src/core/requests/export-request.schema.ts';
import { EE_PROJECT_PATTERN, LABEL_KEY_PATTERN } from '../../functions/src/core/requests/envelope.schema.ts';
import { jobIdFor } from '../../functions/src/core/jobs/ids.ts';
import { createSubmitExport } from '../../functions/src/core/submit/submit-export.ts';
import { createCancelJob } from '../../functions/src/core/cancel/cancel-job.ts';
import { createRequestMessageHandler } from '../../functions/src/core/submit/request-message.ts';
import { createBatches } from '../../functions/src/core/batches/batches.ts';
import { createLogEvents } from '../../functions/src/core/jobs/log-events.ts';
import { API_ERROR_CODES } from '../../functions/src/core/api/api-contract.ts';
import { MemoryStore, MemoryPublisher } from '../fakes/memory-store.ts';
import { createFirestoreJobStore } from '../../functions/src/adapters/job-store.firestore.ts';
import { FakeEarthEngine } from '../fakes/fake-earth-engine.ts';
import { emulatorsOrSkip } from '../harness/emulators.ts';
import { FULL, SEED, banner, size } from './lib/mode.ts';
import { World, message, request } from './lib/world.ts';
import { attributes, deepJsonText, enc, hasIllFormedUtf16, hugeStringRequest, messageData, mutatedRequest, prototypeSnapshot, referenceGraph } from './lib/hostile.ts';

const POLICY: IntakePolicy = {
  defaultEeProject: 'ee-test-project',
  allowedEeProjects: ['ee-test-project', 'ee-second-project'],
  maxRequestBytes: 800_000,
  callbackPolicy: { allowHttp: false, allowLoopback: false },
};
const INTAKE_CODES = ['EXPORT.INVALID_JSON', 'EXPORT.INVALID_REQUEST', 'EXPORT.INVALID_ENVELOPE', 'EXPORT.UNKNOWN_PROJECT', 'EXPORT.TOO_LARGE'];
/** Longest error message seen must stay readable: the schema echoes at most a short prefix of what it got. */
const MAX_MESSAGE_CHARS = 4_000;


/**
 * Known defect (duplicates-races.test.ts, "KNOWN DEFECT: one client requestId under two identities"):
 * two jobs that carry the same client requestId share one Earth Engine task. The generators reuse one
 * fixed client requestId, so the end-to-end sample gives each message its own (and says how many).
 * Set to false once fixed.
 */
const KNOWN_DEFECT_SHARED_REQUEST_ID = true;
const FIXED_REQUEST_ID = 'c0ffee00-1234-4abc-9def-0123456789ab';

const RUNS = size(2_000, 10_000);
const MEMORY_RUNS = size(400, 3_000);
const E2E = size(40, 200);
const API_RUNS = size(150, 1_000);

const checkIssues = (errors: unknown): void => {
  expect(Array.isArray(errors)).toBe(true);
  const list = errors as { path: unknown; message: unknown }[];
  expect(list.length).toBeGreaterThan(0);
  for (const e of list) {
    expect(typeof e.path).toBe('string');
    expect(typeof e.message).toBe('string');
    expect((e.message as string).length).toBeGreaterThan(0);
    expect((e.message as string).length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS);
  }
};

/** What the requests-topic handler treats as a batch submission (core/request-message.ts). */
function isBatchBody(data: Uint8Array | null): boolean {
  try {
    const v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data ?? new Uint8Array())) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) && 'batch' in v;
  } catch {
    return false;
  }
}

const toMessage = (data: Uint8Array | null, attrs: Record<string, string>, id: string): IncomingMessage => ({ data, attributes: attrs, messageId: id, eventSource: '//pubsub.googleapis.com/projects/p/topics/eeport-requests' });

describe('hostile input: parser and schema (no emulators needed)', () => {
  it(`intakeMessage: ${RUNS} generated messages → ok or errors with paths, never an exception, prototypes untouched`, () => {
    banner('hostile input: intakeMessage', { runs: RUNS });
    const polluted = prototypeSnapshot();
    let ok = 0;
    const codes: Record<string, number> = {};
    fc.assert(
      fc.property(messageData, attributes, fc.uuid(), (data, attrs, id) => {
        const r = intakeMessage(toMessage(data, attrs, id), POLICY);
        if (r.ok) {
          ok++;
          const { request, eeProject, labels } = r.command;
          expect(parseExportRequest(request).ok).toBe(true);
          expect(Object.getPrototypeOf(request)).toBe(Object.prototype);
          expect(EE_PROJECT_PATTERN.test(eeProject) && POLICY.allowedEeProjects.includes(eeProject)).toBe(true);
          for (const k of Object.keys(labels)) expect(LABEL_KEY_PATTERN.test(k)).toBe(true);
          expect(new TextEncoder().encode(JSON.stringify(request)).length).toBeLessThanOrEqual(POLICY.maxRequestBytes);
        } else {
          codes[r.code] = (codes[r.code] ?? 0) + 1;
          expect(INTAKE_CODES).toContain(r.code);
          checkIssues(r.errors);
          expect(jobIdFor(r.identity)).toMatch(/^[0-9a-f]{32}$/);
        }
        expect(polluted()).toEqual([]);
      }),
      { numRuns: RUNS, seed: SEED },
    );
    console.log(`[reliability] intakeMessage: ${ok} accepted, rejected by code ${JSON.stringify(codes)}`);
    // The generators reach both outcomes and the common kinds of rejection (TOO_LARGE and UNKNOWN_PROJECT are rarer).
    expect(ok).toBeGreaterThan(0);
    for (const c of ['EXPORT.INVALID_JSON', 'EXPORT.INVALID_REQUEST', 'EXPORT.INVALID_ENVELOPE']) expect(codes[c] ?? 0, c).toBeGreaterThan(0);
  });

  /** Values no JSON parser produces, that a caller of the schema could still hand it. */
  const exotic = fc.constantFrom<() => unknown>(
    () => undefined,
    () => Symbol('x'),
    () => () => 1,
    () => new Map([['expression', 1]]),
    () => new Date(0),
    () => Object.create(null),
    () => {
      const o: Record<string, unknown> = { description: 'cycle' };
      o.expression = { result: '0', values: { '0': o } };
      return o;
    },
    () => ({
      get expression() {
        throw new Error('getter exploded');
      },
    }),
    () => new Proxy({}, { ownKeys: () => { throw new Error('proxy exploded'); } }),
    () => ({ maxPixels: 10n }),
    // An array with a named own key (seed 930060982 once built one and called it JSON): the
    // validator's array copy trips over it, and the last-resort catch must answer instead.
    () => ({ description: 'x', '': Object.assign([1], { constructor: 'not a constructor' }) }),
  );

  it(`parseExportRequest: ${RUNS} generated values → ok or errors with paths, never an exception; JSON input never needs the last-resort catch`, () => {
    banner('hostile input: parseExportRequest', { runs: RUNS });
    const polluted = prototypeSnapshot();
    let ok = 0;
    let exoticSeen = 0;
    const jsonInput = fc.oneof(
      { weight: 4, arbitrary: mutatedRequest },
      { weight: 1, arbitrary: referenceGraph },
      { weight: 1, arbitrary: hugeStringRequest },
      { weight: 1, arbitrary: deepJsonText.map((t) => JSON.parse(t) as unknown) },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 5 }) },
    );
    fc.assert(
      fc.property(fc.oneof({ weight: 9, arbitrary: jsonInput.map((v) => ({ v, json: true })) }, { weight: 1, arbitrary: exotic.map((f) => ({ v: f(), json: false })) }), ({ v, json }) => {
        const r = parseExportRequest(v);
        if (!json) exoticSeen++;
        if (r.ok) {
          ok++;
          expect(parseExportRequest(JSON.parse(JSON.stringify(r.value))).ok).toBe(true);
        } else {
          checkIssues(r.errors);
          // A JSON body is always judged by the schema itself, never by the catch-all for exotic input.
          if (json) expect(r.errors.map((e) => e.message).join('\n')).not.toMatch(/could not be validated/);
        }
        expect(polluted()).toEqual([]);
      }),
      { numRuns: RUNS, seed: SEED },
    );
    console.log(`[reliability] parseExportRequest: ${ok} of ${RUNS} valid, ${exoticSeen} exotic (non-JSON) values`);
    expect(ok).toBeGreaterThan(0);
  });

  it(`the requests-topic handler in memory: ${MEMORY_RUNS} generated messages each become a job (or a cancel outcome), never an exception`, async () => {
    banner('hostile input: request handler (in memory)', { runs: MEMORY_RUNS });
    const store = new MemoryStore();
    const ee = new FakeEarthEngine();
    const publisher = new MemoryPublisher();
    const clock = { now: () => new Date() };
    const logs = createLogEvents({ write: () => undefined });
    const submit = createSubmitExport({ store, ee, publisher, clock, logs, settings: { eventSource: '//eeport/test', maxInFlightPerProject: 1_000_000, submitLeaseMs: 60_000, intake: POLICY } });
    const cancel = createCancelJob({ store, ee, publisher, clock, logs, settings: { eventSource: '//eeport/test' } });
    const batches = createBatches({ store, publisher, clock, logs, cancel, settings: { eventSource: '//eeport/test', defaultEeProject: POLICY.defaultEeProject, allowedEeProjects: POLICY.allowedEeProjects, callbackPolicy: POLICY.callbackPolicy! } });
    const handle = createRequestMessageHandler({ submit, cancel, batches, logs, defaultEeProject: POLICY.defaultEeProject });
    const polluted = prototypeSnapshot();
    const kinds: Record<string, number> = {};
    await fc.assert(
      fc.asyncProperty(messageData, attributes, fc.uuid(), async (data, attrs, id) => {
        const out = (await handle(toMessage(data, attrs, id))) as { kind: string; job?: { jobId: string } | null };
        kinds[out.kind] = (kinds[out.kind] ?? 0) + 1;
        if (out.job) {
          const job = store.jobs.get(out.job.jobId);
          expect(job).toBeDefined();
          if (job!.state === 'REJECTED') {
            expect(job!.request).toBeNull();
            checkIssues(job!.error?.details);
          } else expect(job!.request).not.toBeNull();
        } else {
          // No job: a cancel (of a job or a batch) or a batch retry that names nothing it can act on.
          expect(['cancel', 'retry']).toContain(attrs.action);
        }
        expect(polluted()).toEqual([]);
      }),
      { numRuns: MEMORY_RUNS, seed: SEED },
    );
    console.log(`[reliability] request handler in memory: outcomes ${JSON.stringify(kinds)}; ${store.jobs.size} jobs, ${ee.tasksStarted()} tasks`);
    expect(ee.tasksStarted()).toBeLessThanOrEqual([...store.jobs.values()].filter((j) => j.operationName).length);
  });
});

const emu = emulatorsOrSkip('reliability: hostile input end to end');

describe.skipIf(!emu)('hostile input end to end (emulators + simulator)', () => {
  const world = new World(emu!);
  afterAll(() => world.close());

  it(`${E2E} generated messages through submitExport: always 2xx, each a REJECTED job (errors with paths) or an accepted job; invariants hold after they ran`, async () => {
    banner('hostile input: submitExport end to end', { messages: E2E });
    await world.start({ env: { EE_ALLOWED_PROJECTS: 'ee-test-project,ee-second-project' } });
    const polluted = prototypeSnapshot();
    const samples = fc.sample(fc.tuple(messageData, attributes), { numRuns: E2E, seed: SEED });
    const lone = samples.filter(([d, a]) => hasIllFormedUtf16(d, a)).length;
    if (lone) console.log(`[reliability] hostile end to end: ${lone} of the messages carry a lone surrogate`);
    const eventSource = `//pubsub.googleapis.com/projects/${world.config.GOOGLE_CLOUD_PROJECT}/topics/${world.config.REQUESTS_TOPIC}`;
    const expected = new Map<string, 'rejected' | 'accepted'>();
    let ownRequestIds = 0;
    for (const [i, [generatedData, attrs]] of samples.entries()) {
      const messageId = `hostile-${SEED}-${i}`;
      let data = generatedData;
      if (KNOWN_DEFECT_SHARED_REQUEST_ID && data) {
        const text = new TextDecoder().decode(data);
        if (text.includes(FIXED_REQUEST_ID)) {
          data = enc(text.replaceAll(FIXED_REQUEST_ID, `c0ffee00-1234-4abc-9def-${i.toString(16).padStart(12, '0')}`));
          ownRequestIds++;
        }
      }
      const status = await world.deliver({ ...(data ? { data: Buffer.from(data) } : {}), attributes: attrs, messageId });
      const label = `message ${i} → ${status}; attributes ${JSON.stringify(attrs).slice(0, 300)}; data (base64) ${data ? Buffer.from(data).toString('base64').slice(0, 600) : null}`;
      expect(status, label).toBeGreaterThanOrEqual(200);
      expect(status, label).toBeLessThan(300);
      const action = attrs.action ?? 'submit';
      // Cancels (of a job or a batch) and batch retries make no job; a body with a "batch" key is a batch submission.
      if (action === 'cancel' || (action === 'retry' && attrs.batchId !== undefined) || (action === 'submit' && isBatchBody(data))) continue;
      if (action !== 'submit') {
        expected.set(jobIdFor({ kind: 'message', source: eventSource, messageId }), 'rejected');
        continue;
      }
      const local = intakeMessage({ data: data && data.length ? data : null, attributes: attrs, messageId, eventSource }, POLICY);
      // Two messages with one identity (the same idempotencyKey, say) are one job: the first decides it, the later is its duplicate.
      const id = jobIdFor(local.ok ? local.command.identity : local.identity);
      if (!expected.has(id)) expected.set(id, local.ok ? 'accepted' : 'rejected');
    }
    expect(polluted()).toEqual([]);
    if (ownRequestIds) console.log(`[reliability] hostile end to end: ${ownRequestIds} message(s) given their own client requestId instead of the generators' shared one (known defect: a shared requestId makes two jobs share one task)`);
    const jobs = new Map((await world.jobs()).map((j) => [j.jobId, j]));
    for (const [jobId, kind] of expected) {
      const job = jobs.get(jobId);
      expect(job, `job ${jobId} (${kind}) missing`).toBeDefined();
      if (kind === 'rejected') {
        expect(job!.state).toBe('REJECTED');
        expect(job!.error?.code).toMatch(/^EXPORT\./);
        checkIssues(job!.error?.details);
      } else {
        expect(job!.state).not.toBe('REJECTED');
      }
    }
    await world.settle();
    const report = await world.check();
    console.log(`[reliability] hostile end to end: ${samples.length} messages → ${jobs.size} jobs, final ${JSON.stringify(report.stats.byState)}`);
  });

  it(`${API_RUNS} generated HTTP requests to the api function: never a 5xx; every error is JSON with a known code`, async () => {
    banner('hostile input: api function bodies', { requests: API_RUNS });
    await world.start({ env: { API_MAX_BODY_BYTES: '65536' } });
    const contentTypes = fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'application/json; charset=UTF-8',
      'application/json; charset=latin1',
      'application/json; charset=utf-16',
      'application/json; charset="utf-8"',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/cloudevents+json',
      'application/octet-stream',
      '',
      'garbage/;;;',
    );
    const paths = fc.constantFrom('/v1/jobs', '/v1/jobs/', '/v1/jobs/0123456789abcdef0123456789abcdef', '/v1/jobs/0123456789abcdef0123456789abcdef:cancel', '/v1/jobs/xyz:cancel', '/v1/jobs/%ZZ', '/v1/batches', '/v1/../v1/jobs', '/v1/openapi.json', '/');
    const body = fc.oneof(
      { weight: 6, arbitrary: messageData },
      { weight: 2, arbitrary: mutatedRequest.map((r) => enc(JSON.stringify({ request: r, idempotencyKey: 'api-fuzz' }))) },
      { weight: 1, arbitrary: fc.constant(enc('x'.repeat(70_000))) },
    );
    const reqArb = fc.record({
      method: fc.constantFrom('POST', 'POST', 'POST', 'GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
      path: fc.oneof({ weight: 4, arbitrary: fc.constant('/v1/jobs') }, { weight: 1, arbitrary: paths }),
      contentType: contentTypes,
      encoding: fc.option(fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x-bogus'), { freq: 6 }),
      idempotencyKey: fc.option(fc.oneof(fc.constantFrom('api-fuzz', 'other', ''), fc.string({ maxLength: 20 })), { freq: 3 }),
      body,
    });
    const statuses: Record<number, number> = {};
    let i = 0;
    let lone = 0;
    await fc.assert(
      fc.asyncProperty(reqArb, async (r) => {
        if (hasIllFormedUtf16(r.body)) lone++;
        i++;
        const headers: Record<string, string> = {};
        if (r.contentType) headers['content-type'] = r.contentType;
        if (r.encoding) headers['content-encoding'] = r.encoding;
        if (r.idempotencyKey !== null) headers['idempotency-key'] = r.idempotencyKey.replace(/[^\x20-\x7e]/g, '');
        const withBody = !['GET', 'HEAD'].includes(r.method) && r.body !== null;
        const res = await world.stack.http('api', r.path, { method: r.method, headers, ...(withBody ? { body: r.body as unknown as BodyInit } : {}) });
        const text = await res.text();
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        const label = `request ${i}: ${r.method} ${r.path} ${JSON.stringify(headers)} → ${res.status} ${text.slice(0, 300)}`;
        expect(res.status, label).toBeLessThan(500);
        if (res.status >= 400 && r.method !== 'HEAD') {
          expect(res.headers.get('content-type') ?? '', label).toMatch(/^application\/json/);
          const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
          expect(API_ERROR_CODES as readonly string[], label).toContain(parsed.error?.code);
          expect(typeof parsed.error?.message, label).toBe('string');
        }
      }),
      { numRuns: API_RUNS, seed: SEED },
    );
    console.log(`[reliability] api fuzz: statuses ${JSON.stringify(statuses)}${lone ? `; ${lone} bodies with a lone surrogate` : ''}`);
    expect(Object.keys(statuses).some((s) => Number(s) >= 400)).toBe(true);
  });

  // Regression tests for a defect this suite found (fixed: intakeBody() now refuses strings that are not
  // well-formed Unicode). A JSON string may hold a lone surrogate ("\ud800"); copied into a job document
  // (a description, or an issue path or message quoting a key the caller chose) it made the Firestore
  // write fail, so the message was answered 500 on every redelivery and the api answered 500.
  const LONE: [string, string, Record<string, string>][] = [
    ['an accepted request whose description holds a lone surrogate', JSON.stringify(request('ls-1')).replace('"rel-ls-1"', '"rel-\\ud800"'), {}],
    ['a labels attribute whose key is a lone surrogate', JSON.stringify(request('ls-2')), { labels: '{"\\ud800":"x"}' }],
    ['an envelope with an unknown key holding a lone surrogate', `{"request":${JSON.stringify(request('ls-3'))},"x\\udfff":1}`, {}],
  ];
  // At the use case over the Firestore emulator with one transaction attempt: a failing write would throw at once.
  it('submitMessage records a REJECTED job (never throws) for a lone surrogate in a description, a label key or an envelope key', async () => {
    await world.start();
    const store = createFirestoreJobStore(world.stack.firestore, { maxTransactionAttempts: 1 });
    const logs = createLogEvents({ write: () => undefined });
    const submit = createSubmitExport({ store, ee: new FakeEarthEngine(), publisher: new MemoryPublisher(), clock: { now: () => new Date() }, logs, settings: { eventSource: '//eeport/test', maxInFlightPerProject: 100, submitLeaseMs: 60_000, intake: POLICY } });
    const failures: string[] = [];
    for (const [name, data, attrs] of LONE) {
      await submit.submitMessage(toMessage(enc(data), attrs, `lone-${name}`)).catch((err: unknown) => failures.push(`${name}: ${(err as Error).message}`));
    }
    expect(failures, failures.join('\n')).toEqual([]);
  });

  it('a message with a lone surrogate in its description, a label key or an envelope key is acknowledged as a REJECTED job', async () => {
    await world.start();
    for (const [name, data, attrs] of LONE) {
      const m = message(data, attrs);
      for (let attempt = 0; attempt < 3; attempt++) expect(await world.deliver(m), `${name}, delivery ${attempt + 1}`).toBe(204);
    }
    expect(await world.jobs()).toHaveLength(LONE.length);
  });

  it('the api answers 400 (not 500) to a submission whose description holds a lone surrogate', async () => {
    await world.start();
    const res = await world.stack.http('api', '/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: LONE[0]![1] });
    expect(res.status, await res.text()).toBeLessThan(500);
  });
});

/** A gzip body: `{"request":{"description":"aaa…"}}` inflating to `inflated` bytes, compressed as far as gzip goes (about 1,000:1). */
async function gzipBomb(inflated: number): Promise<Buffer> {
  const gz = createGzip({ level: 9 });
  const out: Buffer[] = [];
  gz.on('data', (c: Buffer) => out.push(c));
  const ended = once(gz, 'end');
  const chunk = Buffer.alloc(1 << 20, 'a');
  gz.write('{"request":{"description":"');
  for (let n = 0; n < inflated; n += chunk.length) if (!gz.write(chunk)) await once(gz, 'drain');
  gz.end('"}}');
  await ended;
  return Buffer.concat(out);
}

const PROC = process.platform === 'linux' && existsSync('/proc/self/clear_refs');
const MiB = 1024 * 1024;
/** Memory is held to a bound (the ungated path grows by over 1 GB); time is measured and printed, never asserted. */
const CEILING = { growthBytes: 10 * 1_000_000 };
const TARGET_MS = 100;
const reportBest = (label: string, runs: { ms: number }[]) =>
  console.log(`[reliability] ${label}: best of ${runs.length} ${Math.min(...runs.map((r) => r.ms)).toFixed(1)} ms (issue target ${TARGET_MS} ms; timing is reported, not asserted)`);

describe.skipIf(!PROC)('nothing expensive before authentication: the local stack in api-key mode, in a process of its own', () => {
  if (!PROC) console.warn('SKIPPING the memory measurement of hostile requests: it reads /proc/<pid>/status and resets the peak through /proc/<pid>/clear_refs (Linux only)');
  const KEY = 'reliability-api-key-0123456789';
  const CHILD = fileURLToPath(new URL('./lib/api-stack-child.ts', import.meta.url));
  let child: ChildProcess;
  let api: string;
  let pollExports: string;
  let stderr = '';

  /** VmRSS and VmHWM (the peak since the last reset) of the child, in bytes. */
  const memory = () => {
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const kB = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
    return { rss: kB('VmRSS'), peak: kB('VmHWM') };
  };
  /** Sets the child's peak to its current RSS (Linux: writing 5 to clear_refs). */
  const resetPeak = () => writeFileSync(`/proc/${child.pid}/clear_refs`, '5');

  /** Sends one request to the child and reports its answer, how long it took and how much the child's peak RSS grew meanwhile. */
  async function measured(label: string, url: string, init: RequestInit) {
    resetPeak();
    const before = memory().rss;
    const t0 = performance.now();
    const res = await fetch(url, init);
    const ms = performance.now() - t0;
    const text = await res.text();
    // The peak is read after the answer: anything the request set off has had its chance to grow.
    await new Promise((r) => setTimeout(r, 50));
    const after = memory();
    const growth = after.peak - before;
    console.log(`[reliability] ${label}: ${res.status} in ${ms.toFixed(1)} ms; child RSS ${(before / MiB).toFixed(1)} MiB before, peak ${(after.peak / MiB).toFixed(1)} MiB (+${(growth / MiB).toFixed(2)} MiB)`);
    return { status: res.status, ms, growth, text };
  }

  beforeAll(async () => {
    child = spawn(process.execPath, ['--import', 'tsx', CHILD], { env: { ...process.env, EEPORT_API_KEY: KEY, METADATA_SERVER_DETECTION: 'none' }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-20_000)));
    let out = '';
    const ready = await new Promise<{ api: string; pollExports: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`local stack child not ready after 60 s:\n${stderr}`)), 60_000);
      child.stdout!.on('data', (b: Buffer) => {
        out += b.toString();
        const line = out.split('\n').find((l) => l.startsWith('{"ready"'));
        if (line) {
          clearTimeout(timer);
          resolve(JSON.parse(line) as { api: string; pollExports: string });
        }
      });
      child.once('exit', (code) => reject(new Error(`local stack child exited (${code}) before it was ready:\n${stderr}`)));
    });
    api = ready.api.replace(/\/$/, '');
    pollExports = ready.pollExports;
    // Warm up: the graph is built on the first request, and the paths below are compiled once.
    for (let i = 0; i < 5; i++) {
      const warm: RequestInit[] = [{ headers: { 'x-api-key': KEY } }, {}, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: 'x' }];
      for (const init of warm) {
        await (await fetch(`${api}/v1/jobs`, init)).arrayBuffer();
      }
    }
  }, 90_000);
  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await Promise.race([once(child, 'exit'), new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('a 300 KB gzip body inflating to 300 MB: 415 (or 401/413), < 10 MB RSS growth, time reported — with no key and with one', async () => {
    const bomb = await gzipBomb(300 * 1_000_000);
    console.log(`[reliability] gzip body: ${(bomb.length / 1000).toFixed(0)} KB, inflating to 300 MB`);
    expect(bomb.length).toBeLessThan(400_000);
    for (const [who, auth] of [['no key', {}], ['a valid key', { 'x-api-key': KEY }]] as [string, Record<string, string>][]) {
      // The best of three: the answer itself takes a few milliseconds; a busy machine adds its own.
      const runs = [];
      for (let i = 0; i < 3; i++) {
        runs.push(await measured(`gzip body, ${who}, run ${i + 1}`, `${api}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', ...auth }, body: new Uint8Array(bomb) }));
      }
      for (const r of runs) {
        expect([401, 413, 415], r.text).toContain(r.status);
        expect(r.growth, `RSS growth ${r.growth} bytes`).toBeLessThan(CEILING.growthBytes);
      }
      reportBest(`gzip body, ${who}`, runs);
    }
  });

  it('a batch that would expand to 300 MB (a 60 KB template × 5,000 fan-out values): 400 BATCH.INVALID before expansion, < 10 MB growth, time reported', async () => {
    const template = { description: `{{value}}-${'p'.repeat(60_000)}`, expression: { result: '0', values: { '0': { constantValue: 0 } } }, assetExportOptions: { earthEngineDestination: { name: 'projects/eeport-local-ee/assets/x-{{value}}' } } };
    const body = JSON.stringify({ template, fanOut: { values: Array.from({ length: 5_000 }, (_, i) => `v${i}`) } });
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await measured(`oversized batch (${(body.length / 1000).toFixed(0)} KB body), run ${i + 1}`, `${api}/v1/batches`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': KEY }, body }));
    for (const r of runs) {
      expect(r.status, r.text).toBe(400);
      expect(JSON.parse(r.text)).toMatchObject({ error: { code: 'BATCH.INVALID', details: [{ path: '', message: expect.stringMatching(/BATCH_MAX_EXPANDED_BYTES/) }] } });
      expect(r.growth).toBeLessThan(CEILING.growthBytes);
    }
    reportBest('oversized batch', runs);
  });

  it('GET /v1/jobs?__proto__=x (and constructor, prototype): 400, not 500', async () => {
    for (const name of ['__proto__', 'constructor', 'prototype']) {
      const r = await measured(`GET /v1/jobs?${name}=x`, `${api}/v1/jobs?${name}=x`, { headers: { 'x-api-key': KEY } });
      expect(r.status, r.text).toBe(400);
      expect(JSON.parse(r.text)).toMatchObject({ error: { code: 'API.INVALID_PARAMETER' } });
    }
  });

  // The instrument itself: a target of the same process that the gate does not cover (pollExports, private
  // when deployed) inflates the same body, and the measurement sees it. Full mode only: it costs the child ~1 GB.
  if (!FULL) console.warn('SKIPPING the ungated-target contrast of the gzip measurement: full mode only (RELIABILITY_FULL=1), it costs the child process about 1 GB');
  it.skipIf(!FULL)('for contrast, the same gzip body sent to an ungated target of the same process is inflated, and the measurement shows it', async () => {
    const bomb = await gzipBomb(300 * 1_000_000);
    const r = await measured('gzip body to pollExports (ungated, for contrast)', pollExports, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: new Uint8Array(bomb) });
    expect(r.growth).toBeGreaterThan(100 * MiB);
  });
});

