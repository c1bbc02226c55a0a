import { describe, it, expect, beforeEach } from 'vitest';
import { checkThen, createChains, newChain, stepJobId, type ChainPlan } from '../../functions/src/core/chains/index.ts';
import { createLogEvents, newJob, type Job } from '../../functions/src/core/jobs/index.ts';
import { intakeBody } from '../../functions/src/core/submit/index.ts';
import { MemoryStore, MemoryPublisher, CapturingLogSink } from '../fakes/memory-store.ts';
import { JOB_STATES, isTerminal, transition } from '../../functions/src/core/jobs/index.ts';
import { EVENT_TYPES } from '../../functions/src/core/jobs/events.ts';
import { asyncApiDocument } from '../../tools/asyncapi.ts';

const load = (id: string) => ({ result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: id } } } } } });
const toAsset = { description: 'to asset', expression: load('projects/p/assets/src'), assetExportOptions: { earthEngineDestination: { name: 'projects/ee-test/assets/ndvi' } } };
const cog = { description: 'cog of {{previous.assetId}}', expression: load('{{previous.assetId}}'), fileExportOptions: { fileFormat: 'GEO_TIFF', geoTiffOptions: { cloudOptimized: true }, cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: 'cog/{{previous.jobId}}' } } };
const toGcs = (prefix: string) => ({ description: 'to gcs', expression: load('projects/p/assets/x'), fileExportOptions: { fileFormat: 'GEO_TIFF', cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: prefix } } });
const policy = { defaultEeProject: 'ee-test', allowedEeProjects: ['ee-test'], maxRequestBytes: 100_000 };
const root = { kind: 'job' as const, eeProject: 'ee-test', labels: {}, request: toAsset as never };

describe('checkThen: invalid chains are refused whole, by path', () => {
  it('accepts a two-step chain and names steps by position', () => {
    const r = checkThen([{ request: cog }], root, policy);
    expect(r.ok).toBe(true);
    expect(r.ok && r.plan.steps.map((s) => [s.step, s.after])).toEqual([['step-1', ['root']]]);
  });

  it('refuses a cycle, an unknown step, a duplicate name and the reserved "root"', () => {
    const cycle = checkThen([{ step: 'a', after: ['b'], request: toGcs('a') }, { step: 'b', after: ['a'], request: toGcs('b') }], root, policy);
    expect(cycle.ok).toBe(false);
    expect(!cycle.ok && cycle.errors.map((e) => e.path)).toEqual(['then.0.after', 'then.1.after']);
    expect(!cycle.ok && cycle.errors[0]!.message).toMatch(/cycle/);
    const unknown = checkThen([{ step: 'a', after: ['nope'], request: toGcs('a') }], root, policy);
    expect(!unknown.ok && unknown.errors[0]).toMatchObject({ path: 'then.0.after.0', message: expect.stringMatching(/no step is named "nope"/) });
    const twice = checkThen([{ step: 'a', request: toGcs('a') }, { step: 'a', request: toGcs('b') }], root, policy);
    expect(!twice.ok && twice.errors[0]!.path).toBe('then.1.step');
    const reserved = checkThen([{ step: 'root', request: toGcs('a') }], root, policy);
    expect(!reserved.ok && reserved.errors[0]!.path).toBe('then.0.step');
  });

  it('refuses unknown placeholders and ones the predecessors cannot fill', () => {
    const unknown = checkThen([{ request: toGcs('x/{{previous.asset}}') }], root, policy);
    expect(!unknown.ok && unknown.errors[0]).toMatchObject({ path: 'then.0.request.fileExportOptions.cloudStorageDestination.filenamePrefix', message: expect.stringMatching(/unknown placeholder \{\{previous.asset\}\}/) });
    const noAsset = checkThen([{ step: 'a', request: toGcs('a') }, { step: 'b', after: ['a'], request: cog }], root, policy);
    expect(!noAsset.ok && noAsset.errors[0]!.message).toMatch(/"a" does not export to an asset/);
    const fanIn = checkThen([{ step: 'a', request: toGcs('a') }, { step: 'b', after: ['root', 'a'], request: cog }], root, policy);
    expect(!fanIn.ok && fanIn.errors[0]!.message).toMatch(/needs exactly one step in `after`/);
    const batchJobId = checkThen([{ request: toGcs('x/{{previous.jobId}}') }], { kind: 'batch', eeProject: 'ee-test', labels: {}, request: null }, policy);
    expect(!batchJobId.ok && batchJobId.errors[0]!.message).toMatch(/is a batch/);
    expect(checkThen([{ request: toGcs('x/{{previous.batchId}}/{{previous.destinationUris[3]}}') }], { kind: 'batch', eeProject: 'ee-test', labels: {}, request: null }, policy).ok).toBe(true);
  });

  it('checks each step’s request like a submission (with sample values), and its project', () => {
    const bad = checkThen([{ request: { ...toGcs('a'), fileExportOptions: { fileFormat: 'NOPE', cloudStorageDestination: { bucket: 'b', filenamePrefix: 'a' } } } }], root, policy);
    expect(!bad.ok && bad.errors[0]!.path).toMatch(/^then\.0\.request\.fileExportOptions/);
    const project = checkThen([{ request: toGcs('a'), eeProject: 'other-project' }], root, policy);
    expect(!project.ok && project.errors[0]!.path).toBe('then.0.eeProject');
  });

  it('intake answers CHAIN.INVALID (a 400 on the API, a REJECTED job on the topic)', () => {
    const r = intakeBody({ request: toAsset, then: [{ step: 'a', after: ['a'], request: cog }] }, {}, [], policy, { kind: 'api' }, { kind: 'random', value: 'x' }, null);
    expect(r).toMatchObject({ ok: false, code: 'CHAIN.INVALID' });
    const ok = intakeBody({ request: toAsset, then: [{ request: cog }] }, {}, [], policy, { kind: 'api' }, { kind: 'random', value: 'x' }, null);
    expect(ok.ok && ok.command.then?.steps[0]!.step).toBe('step-1');
  });
});

describe('the tick moves chains on', () => {
  let store: MemoryStore;
  let publisher: MemoryPublisher;
  let now: Date;
  const rootId = 'a'.repeat(32);
  const chains = () => createChains({ store, publisher, clock: { now: () => now }, logs: createLogEvents(new CapturingLogSink()), settings: { eventSource: 'test' } });

  async function start(plan: ChainPlan) {
    const at = now.toISOString();
    const job = newJob({ jobId: rootId, state: 'RUNNING', eeProject: 'ee-test', request: toAsset as never, requestId: `eeport-${rootId}`, identity: 'key:root', labels: { team: 'forest' }, callbackUrl: null, source: { kind: 'api' }, chain: { chainId: rootId, step: 'root' } }, at);
    await store.transact(async (tx) => {
      tx.createJob(job);
      tx.setChain(newChain({ rootId, kind: 'job', tenantId: null, eeProject: 'ee-test', labels: { team: 'forest' }, callbackUrl: null, plan, stepId: (s) => stepJobId(rootId, s) }, at));
    });
  }
  const end = async (jobId: string, state: Job['state'], extra: Partial<Job> = {}) => {
    const j = store.jobs.get(jobId)!;
    store.jobs.set(jobId, { ...j, state, endTime: now.toISOString(), ...extra });
  };
  const plan = (then: unknown) => {
    const r = checkThen(then, { ...root, labels: { team: 'forest' } }, policy);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    return r.plan;
  };

  beforeEach(() => {
    store = new MemoryStore();
    publisher = new MemoryPublisher();
    now = new Date('2024-05-10T10:00:00Z');
  });

  it('after the root succeeds, the next step is QUEUED with the root’s asset id and job id; once each, however many ticks', async () => {
    await start(plan([{ step: 'cog', request: cog }]));
    expect(await chains().tickChains()).toBe(0);
    const cogId = stepJobId(rootId, 'cog');
    expect(store.jobs.has(cogId)).toBe(false);
    await end(rootId, 'SUCCEEDED');
    expect(await chains().tickChains()).toBe(1);
    expect(await chains().tickChains()).toBe(0);
    const step = store.jobs.get(cogId)!;
    expect(step).toMatchObject({ state: 'QUEUED', labels: { team: 'forest' }, source: { kind: 'chain', chainId: rootId, step: 'cog' }, chain: { chainId: rootId, step: 'cog' }, description: 'cog of projects/ee-test/assets/ndvi' });
    expect(JSON.stringify(step.request)).toContain('"constantValue":"projects/ee-test/assets/ndvi"');
    expect(step.request!.fileExportOptions!.cloudStorageDestination!.filenamePrefix).toBe(`cog/${rootId}`);
    await end(cogId, 'SUCCEEDED');
    await chains().tickChains();
    const c = (await store.getChain(rootId))!;
    expect(c).toMatchObject({ state: 'SUCCEEDED', dueAt: null });
    expect(c.steps.map((s) => s.state)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(publisher.published.filter((e) => e.type.startsWith('dev.eeport.chain.v1.')).map((e) => [e.type, e.id])).toEqual([['dev.eeport.chain.v1.completed', `chain.${rootId}.completed`]]);
  });

  it('a failed root skips its dependants, and theirs, with the reason; one chain.failed event', async () => {
    await start(plan([{ step: 'cog', request: cog }, { step: 'after-cog', after: ['cog'], request: toGcs('x/{{previous.jobId}}') }, { step: 'other', request: toGcs('y') }]));
    await end(rootId, 'FAILED', { error: { code: 'EE.TASK_FAILED', message: 'User memory limit exceeded.' } });
    expect(await chains().tickChains()).toBe(0);
    await chains().tickChains();
    const jobs = ['cog', 'after-cog', 'other'].map((s) => store.jobs.get(stepJobId(rootId, s))!);
    expect(jobs.map((j) => j.state)).toEqual(['SKIPPED', 'SKIPPED', 'SKIPPED']);
    expect(jobs[0]!.error).toMatchObject({ code: 'CHAIN.SKIPPED', message: expect.stringContaining('step "root" (job aaaa') });
    expect(jobs[0]!.error!.message).toContain('FAILED: User memory limit exceeded.');
    expect(jobs[1]!.error!.message).toContain('step "cog"');
    expect(jobs[1]!.error!.message).toContain('SKIPPED');
    const c = (await store.getChain(rootId))!;
    expect(c.state).toBe('FAILED');
    expect(c.steps.map((s) => s.state)).toEqual(['FAILED', 'SKIPPED', 'SKIPPED', 'SKIPPED']);
    const types = publisher.published.map((e) => e.type);
    expect(types.filter((t) => t === 'dev.eeport.export.v1.skipped')).toHaveLength(3);
    expect(types.filter((t) => t.startsWith('dev.eeport.chain.v1.'))).toEqual(['dev.eeport.chain.v1.failed']);
  });

  it('fans in: a step after two waits for both, and gets their URIs in `after` order', async () => {
    await start(plan([{ step: 'a', request: toGcs('a') }, { step: 'b', after: ['root', 'a'], request: toGcs('{{previous.destinationUris[0]}}|{{previous.destinationUris[1]}}') }]));
    await end(rootId, 'SUCCEEDED', { destinationUris: ['uri-root'] });
    await chains().tickChains();
    expect(store.jobs.has(stepJobId(rootId, 'b'))).toBe(false);
    await end(stepJobId(rootId, 'a'), 'SUCCEEDED', { destinationUris: ['uri-a'] });
    await chains().tickChains();
    expect(store.jobs.get(stepJobId(rootId, 'b'))!.request!.fileExportOptions!.cloudStorageDestination!.filenamePrefix).toBe('uri-root|uri-a');
  });

  it('fans in after a whole batch: the step waits for the batch to end, and gets its id and URIs', async () => {
    const batchId = 'b'.repeat(32);
    const at = now.toISOString();
    const r = checkThen([{ step: 'mosaic', request: toGcs('m/{{previous.batchId}}/{{previous.destinationUris[1]}}') }], { kind: 'batch', eeProject: 'ee-test', labels: {}, request: null }, policy);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const batch = { batchId, state: 'RUNNING', destinationUris: ['u0', 'u1'], counts: {}, total: 2, error: null, endTime: null } as never;
    store.batches.set(batchId, batch);
    await store.transact(async (tx) => tx.setChain(newChain({ rootId: batchId, kind: 'batch', tenantId: null, eeProject: 'ee-test', labels: {}, callbackUrl: null, plan: r.plan, stepId: (s) => stepJobId(batchId, s) }, at)));
    await chains().tickChains();
    expect(store.jobs.size).toBe(0);
    store.batches.set(batchId, { ...store.batches.get(batchId)!, state: 'SUCCEEDED', endTime: at });
    expect(await chains().tickChains()).toBe(1);
    expect(store.jobs.get(stepJobId(batchId, 'mosaic'))!.request!.fileExportOptions!.cloudStorageDestination!.filenamePrefix).toBe(`m/${batchId}/u1`);
  });

  it('a partially failed batch skips the steps after it', async () => {
    const batchId = 'c'.repeat(32);
    const r = checkThen([{ request: toGcs('x') }], { kind: 'batch', eeProject: 'ee-test', labels: {}, request: null }, policy);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    store.batches.set(batchId, { batchId, state: 'PARTIALLY_FAILED', destinationUris: [], counts: { SUCCEEDED: 1, FAILED: 1 }, total: 2, error: null, endTime: now.toISOString() } as never);
    await store.transact(async (tx) => tx.setChain(newChain({ rootId: batchId, kind: 'batch', tenantId: null, eeProject: 'ee-test', labels: {}, callbackUrl: null, plan: r.plan, stepId: (s) => stepJobId(batchId, s) }, now.toISOString())));
    await chains().tickChains();
    expect(store.jobs.get(stepJobId(batchId, 'step-1'))).toMatchObject({ state: 'SKIPPED', error: { message: expect.stringContaining('partially failed (1 of 2 children succeeded)') } });
  });

  it('a cancelled step skips what comes after it; the chain fails', async () => {
    await start(plan([{ step: 'a', request: toGcs('a') }, { step: 'b', after: ['a'], request: toGcs('b') }]));
    await end(rootId, 'SUCCEEDED');
    await chains().tickChains();
    await end(stepJobId(rootId, 'a'), 'CANCELLED');
    await chains().tickChains();
    expect(store.jobs.get(stepJobId(rootId, 'b'))).toMatchObject({ state: 'SKIPPED', error: { code: 'CHAIN.SKIPPED' } });
    expect((await store.getChain(rootId))!.state).toBe('FAILED');
  });
});

describe('SKIPPED, the state of a step that never ran', () => {
  it('is terminal: a job is born in it and nothing leaves it', () => {
    expect(JOB_STATES).toContain('SKIPPED');
    expect(isTerminal('SKIPPED')).toBe(true);
    const job = newJob({ jobId: 'd'.repeat(32), state: 'SKIPPED', eeProject: 'ee-test', request: null, requestId: 'r', identity: 'chain:x/y', labels: {}, callbackUrl: null, source: { kind: 'chain', chainId: 'x', step: 'y' } }, '2024-05-10T10:00:00Z');
    for (const to of JOB_STATES.filter((s) => s !== 'SKIPPED')) expect(transition(job, to, '2024-05-10T10:01:00Z'), to).toBeNull();
  });

  it('has its event, and the AsyncAPI document lists it and the chain events', () => {
    expect(EVENT_TYPES).toContain('dev.eeport.export.v1.skipped');
    const messages = (asyncApiDocument() as { components: { messages: Record<string, { payload: { properties: { type: { enum: string[] } } } }> } }).components.messages;
    expect(messages.jobEvent!.payload.properties.type.enum).toContain('dev.eeport.export.v1.skipped');
    expect(messages.chainEvent!.payload.properties.type.enum).toEqual(['dev.eeport.chain.v1.completed', 'dev.eeport.chain.v1.failed']);
  });
});
