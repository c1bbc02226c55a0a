/**
 * submitExport end to end: functions-framework test server → Firestore and Pub/Sub
 * emulators → the Earth Engine simulator.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import '../../functions/src/entry/submit-export.entry.ts';
import { startSimulator, type Simulator } from '../../tools/ee-simulator/index.ts';
import { emulatorsOrSkip } from '../harness/emulators.ts';
import { startTestStack, testConfig, pushMessage, type TestStack } from '../harness/stack.ts';
import { jsClientRequest, assetLoadRequest } from '../fakes/requests.ts';
import type { Job } from '../../functions/src/core/jobs/job.ts';
import type { Adapters } from '../../functions/src/composition-root.ts';

const emu = emulatorsOrSkip('submitExport integration');

describe.skipIf(!emu)('submitExport (emulators + simulator)', () => {
  let sim: Simulator;
  let stack: TestStack;
  /** When armed, the next write that records an operation (a transaction or a precondition commit) dies before committing (a crash after the EE call). */
  let crashOnRecord = false;

  const crashable = (a: Adapters): Adapters => ({
    ...a,
    store: {
      ...a.store,
      commit: (w) => {
        if (crashOnRecord && 'update' in w && w.update.operationName) {
          crashOnRecord = false;
          throw new Error('process died after image:export (injected)');
        }
        return a.store.commit(w);
      },
      transact: (fn) =>
        a.store.transact((tx) =>
          fn({
            ...tx,
            updateJob: (job) => {
              if (crashOnRecord && job.operationName) {
                crashOnRecord = false;
                throw new Error('process died after image:export (injected)');
              }
              tx.updateJob(job);
            },
          }),
        ),
    },
  });

  beforeAll(async () => {
    sim = await startSimulator({ clock: { mode: 'manual' } });
    // The simulator answers a repeated requestId with 409 (its default): the retries below adopt their
    // task's operation, at once here (the confirmation wait is covered in test/unit/adopt-operation.test.ts).
    stack = await startTestStack(testConfig(emu!, sim.url, { EE_ALLOWED_PROJECTS: 'ee-test-project,ee-other-project', MAX_IN_FLIGHT_PER_PROJECT: '50', ADOPT_CONFIRM_SECONDS: '0' }), crashable);
  });
  afterAll(async () => {
    await stack?.close();
    await sim?.close();
  });
  beforeEach(async () => {
    await emu!.clear();
    sim.reset();
    // Topics were cleared with the rest of the project: recreate the events topic and our subscription.
    await stack.close();
    stack = await startTestStack(stack.config, crashable);
  });

  const jobs = async (): Promise<Job[]> => {
    const snap = await stack.firestore.collection('jobs').get();
    return snap.docs.map((d) => d.data() as Job);
  };

  it('a message becomes one PENDING job with its operation, and a submitted event', async () => {
    const status = await stack.deliverOnce('submitExport', pushMessage(jsClientRequest(), { labels: '{"team":"forest"}' }));
    expect(status).toBe(204);
    const [job, ...rest] = await jobs();
    expect(rest).toHaveLength(0);
    expect(job!.state).toBe('PENDING');
    expect(job!.operationName).toBe(sim.tasks()[0]!.name);
    expect(job!.labels).toEqual({ team: 'forest' });
    expect(sim.stats().tasksStarted).toBe(1);
    const events = await stack.drainEvents();
    expect(events.map((e) => e.type)).toEqual(['dev.eeport.export.v1.submitted']);
    expect(events[0]).toMatchObject({ specversion: '1.0', subject: job!.jobId, data: { operationName: job!.operationName, labels: { team: 'forest' } } });
  });

  it('three concurrent deliveries of one message → one task and one job (the others back off and are redelivered)', async () => {
    const msg = pushMessage(jsClientRequest());
    const statuses = await Promise.all([1, 2, 3].map(() => stack.deliverOnce('submitExport', msg)));
    expect(statuses.filter((s) => s === 204).length).toBeGreaterThanOrEqual(1);
    // Pub/Sub redelivers the refused ones; all converge.
    for (const s of statuses) if (s !== 204) await stack.deliverUntilAcked('submitExport', msg, { delayMs: 300 });
    expect(sim.stats().tasksStarted).toBe(1);
    expect(await jobs()).toHaveLength(1);
    expect((await stack.drainEvents()).filter((e) => e.type.endsWith('submitted'))).toHaveLength(1);
  });

  it('the same request published twice with its own requestId → one job, one task', async () => {
    const body = jsClientRequest({ requestId: 'f956722a-1c70-4b51-bf91-b3b6bc862e6c' });
    await stack.deliverUntilAcked('submitExport', pushMessage(body));
    await stack.deliverUntilAcked('submitExport', pushMessage(body));
    expect(sim.stats().tasksStarted).toBe(1);
    const [job] = await jobs();
    expect(job!.requestId).toBe('f956722a-1c70-4b51-bf91-b3b6bc862e6c');
    expect(sim.tasks()[0]!.requestId).toBe('f956722a-1c70-4b51-bf91-b3b6bc862e6c');
  });

  it('a crash after image:export, before the record: the redelivery converges on that one task', async () => {
    crashOnRecord = true;
    const msg = pushMessage(assetLoadRequest());
    expect(await stack.deliverOnce('submitExport', msg)).toBe(500);
    expect((await jobs())[0]!.state).toBe('SUBMITTING');
    expect(sim.stats().tasksStarted).toBe(1);
    // The lease (3 s in tests) keeps a too-early redelivery off; Pub/Sub keeps trying.
    const statuses = await stack.deliverUntilAcked('submitExport', msg, { delayMs: 500, maxAttempts: 20 });
    expect(statuses.at(-1)).toBe(204);
    const [job] = await jobs();
    expect(job!.state).toBe('PENDING');
    expect(job!.operationName).toBe(sim.tasks()[0]!.name);
    expect(sim.stats().tasksStarted).toBe(1);
    expect(sim.stats().requests.export).toBe(2);
    expect(job!.history.at(-1)?.reason).toMatch(/adopted .*already exists/);
    expect((await stack.drainEvents()).filter((e) => e.type.endsWith('submitted'))).toHaveLength(1);
  });

  it('a lost response (connection dropped after the task was created) is retried with the same requestId: one task', async () => {
    sim.faults.inject({ kind: 'drop-connection', phase: 'after', method: 'export', times: 1 });
    expect(await stack.deliverOnce('submitExport', pushMessage(assetLoadRequest()))).toBe(204);
    expect(sim.stats().tasksStarted).toBe(1);
    expect(sim.stats().requests.export).toBe(2);
    expect((await jobs())[0]!.state).toBe('PENDING');
    expect((await jobs())[0]!.operationName).toBe(sim.tasks()[0]!.name);
  });

  it('a 429 storm from Earth Engine ends in success (retried with backoff inside one delivery)', async () => {
    sim.faults.inject({ kind: 'http-error', httpStatus: 429, status: 'RESOURCE_EXHAUSTED', message: 'Too Many Requests: rate limit', method: 'export', times: 4 });
    expect(await stack.deliverOnce('submitExport', pushMessage(assetLoadRequest()))).toBe(204);
    expect(sim.stats().requests.export).toBe(5);
    expect((await jobs())[0]!.state).toBe('PENDING');
  });

  it('5xx beyond the retry budget: 500 (redelivery), the attempt is on the job, and the redelivery succeeds', async () => {
    sim.faults.inject({ kind: 'http-error', httpStatus: 503, method: 'export', times: 7 });
    const msg = pushMessage(assetLoadRequest());
    expect(await stack.deliverOnce('submitExport', msg)).toBe(500);
    const [j1] = await jobs();
    expect(j1!.state).toBe('SUBMITTING');
    expect(j1!.submitAttempts).toBe(1);
    expect(j1!.lastSubmitError).toBeTruthy();
    expect(await stack.deliverOnce('submitExport', msg)).toBe(204);
    const [j2] = await jobs();
    expect(j2!.state).toBe('PENDING');
    expect(sim.stats().tasksStarted).toBe(1);
  });

  it('a 400 from Earth Engine fails the job with its message, acknowledged, never retried', async () => {
    // Passes our schema, but the service does not know the function.
    const bad = assetLoadRequest();
    (bad.expression.values['0'].functionInvocationValue as { functionName: string }).functionName = 'Image.noSuchAlgorithm';
    expect(await stack.deliverOnce('submitExport', pushMessage(bad))).toBe(204);
    const [job] = await jobs();
    expect(job!.state).toBe('FAILED');
    expect(job!.error!.code).toBe('EE.INVALID_ARGUMENT');
    expect(job!.error!.message).toMatch(/noSuchAlgorithm/);
    expect(sim.stats().requests.export).toBe(1);
    expect((await stack.drainEvents()).map((e) => e.type)).toEqual(['dev.eeport.export.v1.failed']);
  });

  it('a 403 (missing scope) fails the job with a message that says so', async () => {
    sim.faults.inject({ kind: 'http-error', httpStatus: 403, status: 'PERMISSION_DENIED', message: 'Request had insufficient authentication scopes.', method: 'export' });
    expect(await stack.deliverOnce('submitExport', pushMessage(assetLoadRequest()))).toBe(204);
    const [job] = await jobs();
    expect(job!.state).toBe('FAILED');
    expect(job!.error!.code).toBe('EE.PERMISSION_DENIED');
    expect(job!.error!.message).toMatch(/scope/);
  });

  it('Earth Engine queue full (429 "Too many tasks") sends the job to QUEUED instead of failing it', async () => {
    sim.faults.inject({ kind: 'http-error', httpStatus: 429, status: 'RESOURCE_EXHAUSTED', message: 'Too many tasks already in the queue (3000). Please wait for some of them to complete.', method: 'export' });
    expect(await stack.deliverOnce('submitExport', pushMessage(assetLoadRequest()))).toBe(204);
    const [job] = await jobs();
    expect(job!.state).toBe('QUEUED');
    expect(job!.queuedReason).toMatch(/Too many tasks/);
    expect(sim.stats().requests.export).toBe(1);
  });

  const TOO_DEEP = (() => {
    let node: unknown = { constantValue: 1 };
    for (let i = 0; i < 500; i++) node = { arrayValue: { values: [node] } };
    return { expression: { result: '0', values: { '0': node } }, fileExportOptions: { driveDestination: { folder: 'f' }, fileFormat: 'GEO_TIFF' } };
  })();

  // [name, data, attributes, expected error code, a path or phrase the error must name]
  const INVALID: [string, string | Buffer | object | undefined, Record<string, string>, string, RegExp][] = [
    ['not JSON', '{"expression":', {}, 'EXPORT.INVALID_JSON', /not valid UTF-8 JSON/],
    ['no data', undefined, {}, 'EXPORT.INVALID_JSON', /no data/],
    ['not UTF-8', Buffer.from([0xff, 0xfe, 0xfd]), {}, 'EXPORT.INVALID_JSON', /UTF-8/],
    ['a JSON array', [1, 2], {}, 'EXPORT.INVALID_REQUEST', /object/i],
    ['a JSON string', '"hello"', {}, 'EXPORT.INVALID_REQUEST', /object/i],
    ['null', 'null', {}, 'EXPORT.INVALID_REQUEST', /object/i],
    ['missing expression', { fileExportOptions: { driveDestination: {}, fileFormat: 'GEO_TIFF' } }, {}, 'EXPORT.INVALID_REQUEST', /expression/],
    ['result not in values', jsClientRequest({ expression: { result: '9', values: { '0': { constantValue: 1 } } } }), {}, 'EXPORT.INVALID_REQUEST', /expression/],
    ['dangling valueReference', jsClientRequest({ expression: { result: '0', values: { '0': { valueReference: 'nope' } } } }), {}, 'EXPORT.INVALID_REQUEST', /nope|reference/i],
    ['both destinations', jsClientRequest({ assetExportOptions: { earthEngineDestination: { name: 'projects/p/assets/x' } } }), {}, 'EXPORT.INVALID_REQUEST', /fileExportOptions|assetExportOptions/],
    ['no destination', { expression: jsClientRequest().expression }, {}, 'EXPORT.INVALID_REQUEST', /fileExportOptions|assetExportOptions/],
    ['bad fileFormat', jsClientRequest({ fileExportOptions: { driveDestination: {}, fileFormat: 'BMP' } }), {}, 'EXPORT.INVALID_REQUEST', /fileFormat/],
    ['priority out of range', jsClientRequest({ priority: 10000 }), {}, 'EXPORT.INVALID_REQUEST', /priority/],
    ['requestId with underscore', jsClientRequest({ requestId: 'has_underscore' }), {}, 'EXPORT.INVALID_REQUEST', /requestId/],
    ['maxPixels not a number', jsClientRequest({ maxPixels: 'lots' }), {}, 'EXPORT.INVALID_REQUEST', /maxPixels/],
    ['unknown field (typo)', jsClientRequest({ fileExportOption: {} }), {}, 'EXPORT.INVALID_REQUEST', /fileExportOption/],
    ['bad bucket name', jsClientRequest({ fileExportOptions: { cloudStorageDestination: { bucket: 'Bad Bucket!' }, fileFormat: 'GEO_TIFF' } }), {}, 'EXPORT.INVALID_REQUEST', /bucket/],
    ['bad asset name', assetLoadRequest('x', { fileExportOptions: undefined, assetExportOptions: { earthEngineDestination: { name: 'users/me/x' } } }), {}, 'EXPORT.INVALID_REQUEST', /name/],
    ['expression nested too deep', TOO_DEEP, {}, 'EXPORT.INVALID_REQUEST', /deep|depth|nest/i],
    ['unknown Earth Engine project', assetLoadRequest(), { eeProject: 'someone-elses-project' }, 'EXPORT.UNKNOWN_PROJECT', /someone-elses-project/],
    ['malformed project id', assetLoadRequest(), { eeProject: 'Not A Project' }, 'EXPORT.INVALID_ENVELOPE', /eeProject/],
    ['labels attribute not JSON', assetLoadRequest(), { labels: 'team=forest' }, 'EXPORT.INVALID_ENVELOPE', /labels/],
    ['label key uppercase', assetLoadRequest(), { labels: '{"Team":"x"}' }, 'EXPORT.INVALID_ENVELOPE', /labels/],
    ['callback URL not a URL', assetLoadRequest(), { callbackUrl: 'not a url' }, 'EXPORT.INVALID_ENVELOPE', /callbackUrl/],
    ['callback URL with ftp', assetLoadRequest(), { callbackUrl: 'ftp://example.com/x' }, 'EXPORT.INVALID_ENVELOPE', /callbackUrl/],
    ['envelope with unknown field', { request: assetLoadRequest(), priorty: 5 }, {}, 'EXPORT.INVALID_ENVELOPE', /priorty|Unrecognized|unknown/i],
    ['envelope and attribute disagree', { request: assetLoadRequest(), eeProject: 'ee-test-project' }, { eeProject: 'ee-other-project' }, 'EXPORT.INVALID_ENVELOPE', /eeProject/],
    ['envelope request invalid', { request: { expression: 5 } }, {}, 'EXPORT.INVALID_REQUEST', /request\.expression/],
    ['__proto__ key', '{"__proto__":{"polluted":true},"expression":{"result":"0","values":{"0":{"constantValue":1}}},"fileExportOptions":{"driveDestination":{},"fileFormat":"GEO_TIFF"}}', {}, 'EXPORT.INVALID_REQUEST', /__proto__/],
  ];

  it(`invalid input (${INVALID.length} kinds) → REJECTED with a clear error, acknowledged, one rejected event each`, async () => {
    for (const [name, data, attributes] of INVALID) {
      const msg = pushMessage(data === undefined ? '' : data, attributes);
      if (data === undefined) delete msg.data;
      const status = await stack.deliverOnce('submitExport', msg);
      expect(status, name).toBe(204);
    }
    const all = await jobs();
    expect(all).toHaveLength(INVALID.length);
    expect(all.every((j) => j.state === 'REJECTED')).toBe(true);
    for (const [name, , , code, phrase] of INVALID) {
      const match = all.filter((j) => j.error?.code === code && phrase.test(j.error.message));
      expect(match.length, `${name}: expected a REJECTED job with ${code} matching ${phrase}; got ${all.map((j) => `${j.error?.code} ${j.error?.message}`).join('\n')}`).toBeGreaterThan(0);
    }
    expect(sim.stats().requests.export).toBe(0);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const events = await stack.drainEvents();
    expect(events).toHaveLength(INVALID.length);
    expect(events.every((e) => e.type === 'dev.eeport.export.v1.rejected')).toBe(true);
  });

  it('a redelivered invalid message stays one REJECTED job', async () => {
    const msg = pushMessage('{oops');
    await stack.deliverOnce('submitExport', msg);
    await stack.deliverOnce('submitExport', msg);
    expect(await jobs()).toHaveLength(1);
  });
});

describe.skipIf(!emu)('requests topic: cancel messages (emulators + simulator)', () => {
  let sim: Simulator;
  let stack: TestStack;
  beforeAll(async () => {
    sim = await startSimulator({ clock: { mode: 'manual' }, maxConcurrentPerProject: 1 });
    stack = await startTestStack(testConfig(emu!, sim.url, { MAX_IN_FLIGHT_PER_PROJECT: '1' }));
  });
  afterAll(async () => {
    await stack?.close();
    await sim?.close();
  });

  const job = async (id: string) => (await stack.firestore.collection('jobs').doc(id).get()).data() as Job;

  it('action=cancel by idempotencyKey cancels a QUEUED job at once and a PENDING one in Earth Engine', async () => {
    await stack.deliverUntilAcked('submitExport', pushMessage(assetLoadRequest(), { idempotencyKey: 'first' }));
    await stack.deliverUntilAcked('submitExport', pushMessage(assetLoadRequest(), { idempotencyKey: 'second' }));
    const all = (await stack.firestore.collection('jobs').get()).docs.map((d) => d.data() as Job);
    const pending = all.find((j) => j.state === 'PENDING')!;
    const queued = all.find((j) => j.state === 'QUEUED')!;
    expect(await stack.deliverOnce('submitExport', pushMessage('', { action: 'cancel', idempotencyKey: 'second' }))).toBe(204);
    expect((await job(queued.jobId)).state).toBe('CANCELLED');
    expect(await stack.deliverOnce('submitExport', pushMessage('', { action: 'cancel', jobId: pending.jobId }))).toBe(204);
    expect(['CANCELLING', 'CANCELLED']).toContain((await job(pending.jobId)).state);
    expect(sim.tasks().find((t) => t.name === pending.operationName)!.state).toMatch(/CANCEL/);
  });

  it('an unknown action is a REJECTED job that says why; a cancel naming nothing is acknowledged', async () => {
    const msg = pushMessage(assetLoadRequest(), { action: 'explode' });
    expect(await stack.deliverOnce('submitExport', msg)).toBe(204);
    const rejected = (await stack.firestore.collection('jobs').where('state', '==', 'REJECTED').get()).docs.map((d) => d.data() as Job);
    expect(rejected.some((j) => /unknown action "explode"/.test(j.error!.message))).toBe(true);
    expect(await stack.deliverOnce('submitExport', pushMessage('', { action: 'cancel' }))).toBe(204);
  });
});
