/**
 * Closed by default: which Earth Engine projects, buckets and asset folders an export may
 * name, on every way in (topic, API, batches, uploads share the intake) and again when
 * a queued or resubmitted job is sent.
 */
import { describe, it, expect, beforeEach } from 'vitest';
import { destinationIssues, exportPolicyIssues, assetPrefixProblem } from '../../functions/src/core/requests/index.ts';
import { ConfigError, loadConfig } from '../../functions/src/config.ts';
import { createSubmitExport, type SubmitDeps } from '../../functions/src/core/submit/submit-export.ts';
import { createBatches } from '../../functions/src/core/batches/index.ts';
import { createCancelJob } from '../../functions/src/core/cancel/index.ts';
import { createLogEvents, newJob } from '../../functions/src/core/jobs/index.ts';
import { parseExportRequest, type ExportImageRequest } from '../../functions/src/core/requests/index.ts';
import { MemoryStore, MemoryPublisher, CapturingLogSink } from '../fakes/memory-store.ts';
import { FakeEarthEngine } from '../fakes/fake-earth-engine.ts';
import { assetLoadRequest, jsClientRequest } from '../fakes/requests.ts';

const parsed = (body: unknown): ExportImageRequest => {
  const r = parseExportRequest(body);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
};
const toBucket = (bucket: string) => parsed(jsClientRequest({ fileExportOptions: { cloudStorageDestination: { bucket, filenamePrefix: 'x' }, fileFormat: 'GEO_TIFF' } }));
const toDrive = parsed(jsClientRequest({ fileExportOptions: { driveDestination: { folder: 'f' }, fileFormat: 'GEO_TIFF' } }));
const toAsset = (name: string) => parsed(assetLoadRequest('projects/p/assets/a', { fileExportOptions: undefined, assetExportOptions: { earthEngineDestination: { name } } }));

describe('destinationIssues', () => {
  it.each([
    ['any bucket with no list', toBucket('x-bucket'), {}, []],
    ['a listed bucket', toBucket('ok-bucket'), { exportBuckets: ['ok-bucket'] }, []],
    ['an unlisted bucket, by its path', toBucket('their-bucket'), { exportBuckets: ['ok-bucket'] }, ['fileExportOptions.cloudStorageDestination.bucket']],
    ['no file exports at all with an empty list', toBucket('ok-bucket'), { exportBuckets: [] }, ['fileExportOptions.cloudStorageDestination.bucket']],
    ['Drive where buckets are listed', toDrive, { exportBuckets: ['ok-bucket'] }, ['fileExportOptions.driveDestination']],
    ['Drive with no list', toDrive, {}, []],
    ['an asset under a prefix', toAsset('projects/p/assets/team/x'), { assetPrefixes: ['projects/p/assets/team'] }, []],
    ['the prefix itself', toAsset('projects/p/assets/team'), { assetPrefixes: ['projects/p/assets/team'] }, []],
    ['a sibling sharing the prefix’s letters', toAsset('projects/p/assets/teammate/x'), { assetPrefixes: ['projects/p/assets/team'] }, ['assetExportOptions.earthEngineDestination.name']],
    ['a ".." segment under the prefix', toAsset('projects/p/assets/team/../other/x'), { assetPrefixes: ['projects/p/assets/team'] }, ['assetExportOptions.earthEngineDestination.name']],
    ['an asset in another project', toAsset('projects/q/assets/team/x'), { assetPrefixes: ['projects/p/assets/team'] }, ['assetExportOptions.earthEngineDestination.name']],
    ['an asset where only buckets are listed', toAsset('projects/q/assets/x'), { exportBuckets: ['ok-bucket'] }, []],
  ])('%s', (_name, request, rules, paths) => {
    expect(destinationIssues(request, rules).map((i) => i.path)).toEqual(paths);
  });

  it('names the project as well', () => {
    expect(exportPolicyIssues('ee-other', toBucket('b'), { allowedEeProjects: ['ee-mine'], destinations: { exportBuckets: ['c'] } })).toEqual([
      { path: 'eeProject', message: expect.stringMatching(/"ee-other" is not one this deployment serves \(allowed: ee-mine\)/) },
      { path: 'fileExportOptions.cloudStorageDestination.bucket', message: expect.stringMatching(/bucket "b" is not one exports may write to \(allowed: c\)/) },
    ]);
  });

  it.each([
    ['projects/p/assets', null],
    ['projects/p/assets/a/b', null],
    ['projects/p/assets/a/', /no trailing/],
    ['projects/p/assets/../x', /no trailing/],
    ['users/me/x', /not an asset prefix/],
  ])('asset prefix %s', (prefix, problem) => {
    const p = assetPrefixProblem(prefix);
    if (problem === null) expect(p).toBeNull();
    else expect(p).toMatch(problem);
  });
});

describe('configuration: closed by default', () => {
  const base = { EE_PROJECT: 'ee-test-project' };
  it('no EE_ALLOWED_PROJECTS: EE_PROJECT alone', () => {
    expect(loadConfig(base).allowedEeProjects).toEqual(['ee-test-project']);
  });
  it('`*`: any project (no list for the core)', () => {
    expect(loadConfig({ ...base, EE_ALLOWED_PROJECTS: '*' }).allowedEeProjects).toEqual([]);
  });
  it('a list is taken as it is', () => {
    expect(loadConfig({ ...base, EE_ALLOWED_PROJECTS: 'a-project,b-project' }).allowedEeProjects).toEqual(['a-project', 'b-project']);
  });
  it.each([
    [{ EE_ALLOWED_PROJECTS: '*,a-project' }, /EE_ALLOWED_PROJECTS: `\*` \(any project\) goes alone/],
    [{ EXPORT_ALLOWED_ASSET_PREFIXES: 'projects/p/assets/x/' }, /EXPORT_ALLOWED_ASSET_PREFIXES: .*no trailing/],
    [{ UPLOAD_RULES: JSON.stringify({ rules: [{ name: 'r', match: { bucket: 'in-bucket' }, eeProject: 'ee-other-project', request: { fileExportOptions: { cloudStorageDestination: { bucket: 'b' } } } }] }) }, /eeProject: "ee-other-project" is not in EE_ALLOWED_PROJECTS \(ee-test-project\)/],
  ])('refuses %j', (env, message) => {
    expect(() => loadConfig({ ...base, ...env })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, ...env })).toThrow(message);
  });
  it('destination lists: absent when unset, present when set', () => {
    expect(loadConfig(base).destinations).toEqual({});
    expect(loadConfig({ ...base, EXPORT_ALLOWED_BUCKETS: 'a-bucket, b-bucket', EXPORT_ALLOWED_ASSET_PREFIXES: 'projects/p/assets/x' }).destinations).toEqual({ exportBuckets: ['a-bucket', 'b-bucket'], assetPrefixes: ['projects/p/assets/x'] });
  });
});

describe('enforced at intake, in batches, and before every export call', () => {
  let store: MemoryStore;
  let ee: FakeEarthEngine;
  let deps: SubmitDeps;
  const now = new Date('2026-01-01T00:00:00Z');
  const intake = { defaultEeProject: 'ee-project-1', allowedEeProjects: ['ee-project-1'], destinations: { exportBuckets: ['ok-bucket'], assetPrefixes: ['projects/ee-project-1/assets/mine'] }, maxRequestBytes: 800_000 };
  const msg = (body: unknown, attributes: Record<string, string> = {}) => ({ data: new TextEncoder().encode(JSON.stringify(body)), attributes, messageId: 'm1', eventSource: '//pubsub.googleapis.com/projects/p/topics/eeport-requests' });

  beforeEach(() => {
    store = new MemoryStore();
    ee = new FakeEarthEngine();
    deps = { store, ee, publisher: new MemoryPublisher(), clock: { now: () => now }, logs: createLogEvents(new CapturingLogSink()), settings: { eventSource: '//t', maxInFlightPerProject: 3, submitLeaseMs: 60_000, intake } };
  });

  it('topic: an unlisted bucket is a REJECTED job naming the path (in an envelope: under request.)', async () => {
    const out = await createSubmitExport(deps).submitMessage(msg({ request: jsClientRequest({ fileExportOptions: { cloudStorageDestination: { bucket: 'their-bucket' }, fileFormat: 'GEO_TIFF' } }) }));
    expect(out.kind).toBe('rejected');
    expect(out.job.error).toMatchObject({ code: 'EXPORT.DESTINATION_NOT_ALLOWED', details: [{ path: 'request.fileExportOptions.cloudStorageDestination.bucket' }] });
    expect(ee.tasksStarted()).toBe(0);
  });

  it('topic: a project other than the default is refused when only it is allowed', async () => {
    const out = await createSubmitExport(deps).submitMessage(msg(jsClientRequest({ fileExportOptions: { cloudStorageDestination: { bucket: 'ok-bucket' }, fileFormat: 'GEO_TIFF' } }), { eeProject: 'ee-project-2' }));
    expect(out.job.error).toMatchObject({ code: 'EXPORT.UNKNOWN_PROJECT', details: [{ path: 'eeProject' }] });
  });

  it('a queued job the current policy refuses fails without reaching Earth Engine, and frees its slot', async () => {
    const request = toBucket('their-bucket');
    const job = newJob({ jobId: 'a'.repeat(32), state: 'SUBMITTING', eeProject: 'ee-project-1', request, requestId: 'rid-1', identity: 'key:x', labels: {}, callbackUrl: null, source: { kind: 'api' }, slotShard: 0 }, now.toISOString());
    await store.transact(async (tx) => {
      tx.createJob(job);
    });
    const out = await createSubmitExport(deps).dispatch(job);
    expect(out.kind).toBe('failed');
    expect(out.job.error).toMatchObject({ code: 'EXPORT.DESTINATION_NOT_ALLOWED', details: [{ path: 'fileExportOptions.cloudStorageDestination.bucket' }] });
    expect(ee.tasksStarted()).toBe(0);
    expect(await store.inFlight('ee-project-1')).toBe(0);
  });

  it('batches: every child is checked; the problems name the child', () => {
    const base = { store, ee, publisher: new MemoryPublisher(), clock: { now: () => now }, logs: createLogEvents(new CapturingLogSink()) };
    const batches = createBatches({ ...base, cancel: createCancelJob({ ...base, settings: { eventSource: '//t' } }), settings: { eventSource: '//t', defaultEeProject: 'ee-project-1', allowedEeProjects: ['ee-project-1'], destinations: intake.destinations } });
    const check = batches.checkBatch({ template: jsClientRequest({ fileExportOptions: { cloudStorageDestination: { bucket: '{{value}}' }, fileFormat: 'GEO_TIFF' } }), fanOut: { values: ['ok-bucket', 'their-bucket'] } });
    expect(check.ok).toBe(false);
    expect(!check.ok && check.errors).toEqual([{ path: 'batch.children[1].fileExportOptions.cloudStorageDestination.bucket', message: expect.stringMatching(/their-bucket/) }]);
  });
});
