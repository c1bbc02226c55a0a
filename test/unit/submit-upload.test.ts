import { describe, it, expect, beforeEach } from 'vitest';
import { createSubmitExport } from '../../functions/src/core/submit/submit-export.ts';
import { createSubmitUpload, type ObjectEvent } from '../../functions/src/core/uploads/submit-upload.ts';
import { createLogEvents } from '../../functions/src/core/jobs/log-events.ts';
import { createUploadLogEvents } from '../../functions/src/core/uploads/upload-log-events.ts';
import { createUploadRouter, parseUploadRules, type StorageObject } from '../../functions/src/core/uploads/upload-rules.ts';
import { jobIdFor } from '../../functions/src/core/jobs/ids.ts';
import type { IntakePolicy } from '../../functions/src/core/submit/intake.ts';
import { MemoryStore, MemoryPublisher, CapturingLogSink } from '../fakes/memory-store.ts';
import { FakeEarthEngine, transient } from '../fakes/fake-earth-engine.ts';

const RULES = {
  rules: [
    {
      name: 'cogs',
      match: { bucket: 'my-uploads', glob: 'incoming/**/*.tif' },
      eeProject: 'ee-project-2',
      labels: { source: 'upload' },
      callbackUrl: 'https://hooks.example.com/eeport',
      request: { description: 'upload {{stem}}', fileExportOptions: { cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: 'exports/{{stem}}' }, fileFormat: 'GEO_TIFF' } },
    },
    {
      name: 'named',
      match: { bucket: 'my-uploads', prefix: 'named/' },
      request: { description: '{{name}}', assetExportOptions: { earthEngineDestination: { name: 'projects/p/assets/uploads/{{stem}}' } } },
    },
  ],
};

const finalized = (name: string, generation = '1', over: Partial<StorageObject> = {}): ObjectEvent => ({
  kind: 'finalized',
  object: { bucket: 'my-uploads', name, generation, contentType: 'image/tiff', ...over },
});

let store: MemoryStore;
let ee: FakeEarthEngine;
let sink: CapturingLogSink;
let upload: ReturnType<typeof createSubmitUpload>;

beforeEach(() => {
  store = new MemoryStore();
  ee = new FakeEarthEngine();
  sink = new CapturingLogSink();
  const parsed = parseUploadRules(JSON.stringify(RULES));
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
  const intake: IntakePolicy = { defaultEeProject: 'ee-project-1', allowedEeProjects: [], maxRequestBytes: 800_000 };
  const logs = createLogEvents(sink);
  const submit = createSubmitExport({
    store,
    ee,
    publisher: new MemoryPublisher(),
    clock: { now: () => new Date('2026-01-01T00:00:00Z') },
    logs,
    settings: { eventSource: '//eeport/test', maxInFlightPerProject: 10, submitLeaseMs: 60_000, intake },
  });
  upload = createSubmitUpload({ submit, logs: createUploadLogEvents(sink), router: createUploadRouter(parsed.rules), intake });
});

const jobs = () => [...store.jobs.values()];

describe('submitUpload (core, with fakes)', () => {
  it('a matching object becomes one submitted job keyed by its generation, with the rule\'s options', async () => {
    const out = await upload(finalized('incoming/2024/a b.tif', '1718000000000000'));
    expect(out.kind).toBe('submitted');
    const [job, ...rest] = jobs();
    expect(rest).toHaveLength(0);
    expect(job!.jobId).toBe(jobIdFor({ kind: 'upload', bucket: 'my-uploads', name: 'incoming/2024/a b.tif', generation: '1718000000000000' }));
    expect(job!.identity).toBe('gcs:my-uploads/incoming/2024/a b.tif#1718000000000000');
    expect(job!.source).toEqual({ kind: 'upload', bucket: 'my-uploads', name: 'incoming/2024/a b.tif', generation: '1718000000000000' });
    expect(job!.state).toBe('PENDING');
    expect(job!.eeProject).toBe('ee-project-2');
    expect(job!.labels).toEqual({ source: 'upload' });
    expect(job!.callbackUrl).toBe('https://hooks.example.com/eeport');
    expect(job!.requestId).toBe(`eeport-${job!.jobId}`);
    expect(job!.request).toMatchObject({
      description: 'upload a_b',
      expression: { values: { '0': { functionInvocationValue: { functionName: 'Image.loadGeoTIFF', arguments: { uri: { constantValue: 'gs://my-uploads/incoming/2024/a b.tif' } } } } } },
      fileExportOptions: { cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: 'exports/a_b' } },
    });
    expect(sink.entries.find((e) => e.event === 'upload.matched')).toMatchObject({ severity: 'INFO', rule: 'cogs', jobId: job!.jobId, bucket: 'my-uploads', name: 'incoming/2024/a b.tif' });
  });

  it('the same upload again is the same job (duplicate); a new generation is a new job', async () => {
    await upload(finalized('incoming/a.tif', '1'));
    expect((await upload(finalized('incoming/a.tif', '1'))).kind).toBe('duplicate');
    expect(jobs()).toHaveLength(1);
    expect((await upload(finalized('incoming/a.tif', '2'))).kind).toBe('submitted');
    expect(jobs()).toHaveLength(2);
    expect(ee.calls.filter((c) => c.method === 'export')).toHaveLength(2);
  });

  it('no matching rule: ignored, logged at INFO with bucket and name, no job', async () => {
    expect(await upload(finalized('elsewhere/a.tif'))).toEqual({ kind: 'ignored' });
    expect(jobs()).toHaveLength(0);
    expect(sink.entries).toEqual([expect.objectContaining({ severity: 'INFO', event: 'upload.ignored', bucket: 'my-uploads', name: 'elsewhere/a.tif', generation: '1' })]);
  });

  it('a request invalid for this object: REJECTED with the reasons and a preview naming the rule', async () => {
    const name = `named/${'n'.repeat(120)}.tif`;
    const out = await upload(finalized(name, '7'));
    expect(out.kind).toBe('rejected');
    const [job] = jobs();
    expect(job!.state).toBe('REJECTED');
    expect(job!.jobId).toBe(jobIdFor({ kind: 'upload', bucket: 'my-uploads', name, generation: '7' }));
    expect(job!.error!.code).toBe('EXPORT.INVALID_REQUEST');
    expect(job!.error!.message).toMatch(/description: must be at most 100 characters/);
    expect(JSON.parse(job!.rawPreview!)).toMatchObject({ rule: 'named', object: { name } });
    expect(ee.calls).toHaveLength(0);
    // Redelivered: still one job.
    expect((await upload(finalized(name, '7'))).kind).toBe('duplicate');
    expect(jobs()).toHaveLength(1);
  });

  it('an unusable event: ERROR log with the reasons, no job, acknowledged', async () => {
    const out = await upload({ kind: 'unusable', eventId: 'e1', type: 'google.cloud.storage.object.v1.deleted', source: '//storage.googleapis.com/projects/_/buckets/b', subject: null, problems: ['wrong type'], preview: '{}' });
    expect(out).toEqual({ kind: 'unusable' });
    expect(jobs()).toHaveLength(0);
    expect(sink.entries).toEqual([expect.objectContaining({ severity: 'ERROR', event: 'upload.malformed_event', eventId: 'e1', problems: ['wrong type'] })]);
  });

  it('a transient Earth Engine error is thrown (redelivery) and the redelivery submits the same job', async () => {
    ee.failures.push(transient());
    await expect(upload(finalized('incoming/a.tif'))).rejects.toThrow();
    expect(jobs()[0]!.state).toBe('SUBMITTING');
    expect((await upload(finalized('incoming/a.tif'))).kind).toBe('submitted');
    expect(jobs()).toHaveLength(1);
    expect(new Set(ee.calls.map((c) => c.arg)).size).toBe(1);
  });
});
