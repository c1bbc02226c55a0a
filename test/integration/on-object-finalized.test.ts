/**
 * onObjectFinalized end to end: Cloud Storage CloudEvents in binary mode (as Eventarc
 * delivers them) → functions-framework test server → Firestore and Pub/Sub emulators
 * → the Earth Engine simulator.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import { randomUUID } from 'node:crypto';
import '../../functions/src/entry/on-object-finalized.entry.ts';
import { startSimulator, type Simulator } from '../../tools/ee-simulator/index.ts';
import { emulatorsOrSkip } from '../harness/emulators.ts';
import { startTestStack, testConfig, type TestStack } from '../harness/stack.ts';
import type { Job } from '../../functions/src/core/jobs/job.ts';
import type { Adapters } from '../../functions/src/composition-root.ts';
import type { LogEntry } from '../../functions/src/core/ports.ts';

const emu = emulatorsOrSkip('onObjectFinalized integration');

const BUCKET = 'eeport-uploads';
const GCS_OUT = { cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: 'exports/{{stem}}-{{generation}}' }, fileFormat: 'GEO_TIFF' };

const RULES = {
  rules: [
    {
      name: 'cogs',
      match: { bucket: BUCKET, glob: 'incoming/**/*.tif', contentTypes: ['image/tiff'] },
      labels: { source: 'upload' },
      request: { description: 'upload {{stem}}', fileExportOptions: GCS_OUT, maxPixels: '10000000000' },
    },
    {
      name: 'assets',
      match: { bucket: BUCKET, prefix: 'to-asset/' },
      eeProject: 'ee-other-project',
      request: { assetExportOptions: { earthEngineDestination: { name: 'projects/ee-other-project/assets/uploads/{{stem}}' } } },
    },
    {
      name: 'named',
      match: { bucket: BUCKET, prefix: 'named/' },
      request: { description: '{{name}}', fileExportOptions: GCS_OUT },
    },
    {
      name: 'scaled',
      match: { bucket: BUCKET, prefix: 'scaled/' },
      request: {
        description: 'scaled {{basename}}',
        expression: {
          result: 'scaled',
          values: {
            image: { functionInvocationValue: { functionName: 'Image.loadGeoTIFF', arguments: { uri: { constantValue: '{{uri}}' } } } },
            scaled: { functionInvocationValue: { functionName: 'Image.clipToBoundsAndScale', arguments: { input: { valueReference: 'image' }, scale: { constantValue: 30 } } } },
          },
        },
        fileExportOptions: GCS_OUT,
      },
    },
  ],
};

interface Upload {
  name: string;
  generation?: string;
  contentType?: string;
  bucket?: string;
}

/** The object metadata Cloud Storage puts in the event data (int64 fields as strings). */
function objectData({ name, generation = '1718000000000000', contentType = 'image/tiff', bucket = BUCKET }: Upload) {
  const now = new Date().toISOString();
  return {
    kind: 'storage#object',
    id: `${bucket}/${name}/${generation}`,
    selfLink: `https://www.googleapis.com/storage/v1/b/${bucket}/o/${encodeURIComponent(name)}`,
    mediaLink: `https://storage.googleapis.com/download/storage/v1/b/${bucket}/o/${encodeURIComponent(name)}?generation=${generation}&alt=media`,
    name,
    bucket,
    generation,
    metageneration: '1',
    contentType,
    storageClass: 'STANDARD',
    size: '1048576',
    md5Hash: 'XrY7u+Ae7tCTyyK7j1rNww==',
    crc32c: 'yZRlqg==',
    etag: 'CKih16GjycICEAE=',
    timeCreated: now,
    updated: now,
    timeStorageClassUpdated: now,
  };
}

describe.skipIf(!emu)('onObjectFinalized (emulators + simulator)', () => {
  let sim: Simulator;
  let stack: TestStack;
  let logs: LogEntry[] = [];
  const capturing = (a: Adapters): Adapters => ({ ...a, logSink: { write: (e) => logs.push(e) } });
  const config = () =>
    testConfig(emu!, sim.url, { UPLOAD_RULES: JSON.stringify(RULES), EE_ALLOWED_PROJECTS: 'ee-test-project,ee-other-project', MAX_IN_FLIGHT_PER_PROJECT: '50' });

  beforeAll(async () => {
    sim = await startSimulator({ clock: { mode: 'manual' } });
    stack = await startTestStack(config(), capturing);
  });
  afterAll(async () => {
    await stack?.close();
    await sim?.close();
  });
  beforeEach(async () => {
    await emu!.clear();
    sim.reset();
    logs = [];
    // Topics were cleared with the rest of the project: recreate the events topic and our subscription.
    await stack.close();
    stack = await startTestStack(stack.config, capturing);
  });

  /** One Eventarc delivery in binary mode; a redelivery reuses the event id. */
  async function deliver(upload: Upload, opts: { eventId?: string; type?: string; data?: unknown } = {}): Promise<number> {
    const bucket = upload.bucket ?? BUCKET;
    const res = await stack.http('onObjectFinalized', '', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'ce-id': opts.eventId ?? randomUUID(),
        'ce-specversion': '1.0',
        'ce-type': opts.type ?? 'google.cloud.storage.object.v1.finalized',
        'ce-source': `//storage.googleapis.com/projects/_/buckets/${bucket}`,
        'ce-subject': `objects/${upload.name}`,
        'ce-time': new Date().toISOString(),
      },
      body: JSON.stringify(opts.data === undefined ? objectData(upload) : opts.data),
    });
    await res.arrayBuffer();
    return res.status;
  }

  /** Redelivers until acknowledged, like Eventarc with retries on. */
  async function deliverUntilAcked(upload: Upload, eventId: string): Promise<number[]> {
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      const s = await deliver(upload, { eventId });
      statuses.push(s);
      if (s >= 200 && s < 300) return statuses;
      await new Promise((r) => setTimeout(r, 300));
    }
    throw new Error(`not acknowledged: ${statuses.join(',')}`);
  }

  /** Read back through the job store adapter, which parses the stored request (kept as JSON text, ADR 0005). */
  const jobs = async (): Promise<Job[]> => {
    const ids = (await stack.firestore.collection('jobs').get()).docs.map((d) => d.id);
    return Promise.all(ids.map(async (id) => (await stack.services.adapters.store.getJob(id))!));
  };
  const loadedUri = (req: unknown) => JSON.stringify(req).match(/"functionName":"Image\.loadGeoTIFF","arguments":\{"uri":\{"constantValue":"([^"]+)"/)?.[1];

  it('a matching object → one PENDING job that loads gs://… and exports where the rule says', async () => {
    expect(await deliver({ name: 'incoming/2024/scene 1.tif', generation: '1718000000000001' })).toBe(204);
    const [job, ...rest] = await jobs();
    expect(rest).toHaveLength(0);
    expect(job!.state).toBe('PENDING');
    expect(job!.source).toEqual({ kind: 'upload', bucket: BUCKET, name: 'incoming/2024/scene 1.tif', generation: '1718000000000001' });
    expect(job!.identity).toBe(`gcs:${BUCKET}/incoming/2024/scene 1.tif#1718000000000001`);
    expect(job!.labels).toEqual({ source: 'upload' });
    expect(job!.eeProject).toBe('ee-test-project');
    expect(job!.description).toBe('upload scene_1');
    expect(loadedUri(job!.request)).toBe(`gs://${BUCKET}/incoming/2024/scene 1.tif`);
    expect(job!.request!.fileExportOptions).toEqual({ cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: 'exports/scene_1-1718000000000001' }, fileFormat: 'GEO_TIFF' });
    expect(job!.request!.maxPixels).toBe('10000000000');
    // What Earth Engine received.
    const [task, ...others] = sim.tasks();
    expect(others).toHaveLength(0);
    expect(job!.operationName).toBe(task!.name);
    expect(task!.requestId).toBe(`eeport-${job!.jobId}`);
    expect(loadedUri(task!.request)).toBe(`gs://${BUCKET}/incoming/2024/scene 1.tif`);
    expect(task!.request.fileExportOptions).toMatchObject({ cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: 'exports/scene_1-1718000000000001' } });
    expect((await stack.drainEvents()).map((e) => e.type)).toEqual(['dev.eeport.export.v1.submitted']);
    expect(logs.find((l) => l.event === 'upload.matched')).toMatchObject({ rule: 'cogs', jobId: job!.jobId });
  });

  it('an asset rule: the asset id comes from the sanitised stem, in the rule\'s Earth Engine project', async () => {
    expect(await deliver({ name: 'to-asset/Field map (v2).final.tif' })).toBe(204);
    const [job] = await jobs();
    expect(job!.state).toBe('PENDING');
    expect(job!.eeProject).toBe('ee-other-project');
    expect(job!.request!.assetExportOptions).toEqual({ earthEngineDestination: { name: 'projects/ee-other-project/assets/uploads/Field_map_v2_final' } });
    expect(sim.tasks('ee-other-project')).toHaveLength(1);
  });

  it('objects no rule matches → no job, no task, an upload.ignored line; acknowledged', async () => {
    const misses: Upload[] = [
      { name: 'elsewhere/a.tif' },
      { name: 'incoming/a.png', contentType: 'image/png' },
      { name: 'incoming/a.tif', bucket: 'some-other-bucket' },
      { name: 'Incoming/a.tif' },
    ];
    for (const u of misses) expect(await deliver(u), u.name).toBe(204);
    expect(await jobs()).toHaveLength(0);
    expect(sim.stats().requests.export ?? 0).toBe(0);
    const ignored = logs.filter((l) => l.event === 'upload.ignored');
    expect(ignored).toHaveLength(misses.length);
    expect(ignored[0]).toMatchObject({ severity: 'INFO', bucket: BUCKET, name: 'elsewhere/a.tif' });
    expect(await stack.drainEvents()).toHaveLength(0);
  });

  it('the same upload delivered twice → one job, one task', async () => {
    const eventId = randomUUID();
    expect(await deliver({ name: 'incoming/twice.tif' }, { eventId })).toBe(204);
    expect(await deliver({ name: 'incoming/twice.tif' }, { eventId })).toBe(204);
    // Even as a different event (Cloud Storage may notify twice): the generation is the identity.
    expect(await deliver({ name: 'incoming/twice.tif' })).toBe(204);
    expect(await jobs()).toHaveLength(1);
    expect(sim.stats().tasksStarted).toBe(1);
    expect((await stack.drainEvents()).filter((e) => e.type.endsWith('submitted'))).toHaveLength(1);
  });

  it('the same upload delivered concurrently → one job, one task (the others back off and are redelivered)', async () => {
    const eventId = randomUUID();
    const upload = { name: 'incoming/concurrent.tif' };
    const statuses = await Promise.all([1, 2, 3, 4].map(() => deliver(upload, { eventId })));
    expect(statuses.filter((s) => s === 204).length).toBeGreaterThanOrEqual(1);
    for (const s of statuses) if (s !== 204) await deliverUntilAcked(upload, eventId);
    const all = await jobs();
    expect(all).toHaveLength(1);
    expect(all[0]!.state).toBe('PENDING');
    expect(sim.stats().tasksStarted).toBe(1);
    expect(sim.tasks()).toHaveLength(1);
  });

  it('a new generation of the same name → a second job and a second task', async () => {
    expect(await deliver({ name: 'incoming/overwritten.tif', generation: '100' })).toBe(204);
    expect(await deliver({ name: 'incoming/overwritten.tif', generation: '200' })).toBe(204);
    const all = (await jobs()).sort((a, b) => a.createTime.localeCompare(b.createTime) || a.jobId.localeCompare(b.jobId));
    expect(all).toHaveLength(2);
    expect(new Set(all.map((j) => j.jobId)).size).toBe(2);
    expect(all.map((j) => (j.source as { generation: string }).generation).sort()).toEqual(['100', '200']);
    expect(all.every((j) => j.state === 'PENDING')).toBe(true);
    expect(sim.stats().tasksStarted).toBe(2);
    expect(sim.tasks().map((t) => (t.request.fileExportOptions as typeof GCS_OUT).cloudStorageDestination.filenamePrefix).sort()).toEqual(['exports/overwritten-100', 'exports/overwritten-200']);
  });

  it('a rule that makes an invalid request for this object → REJECTED with the reasons, acknowledged, never sent', async () => {
    const name = `named/${'very-long-name-'.repeat(8)}.tif`;
    expect(await deliver({ name, generation: '5' })).toBe(204);
    const [job, ...rest] = await jobs();
    expect(rest).toHaveLength(0);
    expect(job!.state).toBe('REJECTED');
    expect(job!.source).toEqual({ kind: 'upload', bucket: BUCKET, name, generation: '5' });
    expect(job!.error!.code).toBe('EXPORT.INVALID_REQUEST');
    expect(job!.error!.details).toEqual([expect.objectContaining({ path: 'description', message: expect.stringMatching(/at most 100 characters/) })]);
    expect(JSON.parse(job!.rawPreview!)).toMatchObject({ rule: 'named', object: { bucket: BUCKET, name, generation: '5' } });
    expect(sim.stats().requests.export ?? 0).toBe(0);
    expect((await stack.drainEvents()).map((e) => e.type)).toEqual(['dev.eeport.export.v1.rejected']);
    // Redelivered: still the one REJECTED job.
    expect(await deliver({ name, generation: '5' })).toBe(204);
    expect(await jobs()).toHaveLength(1);
  });

  it('a template-expression rule: the URI replaces {{uri}} in the rule\'s own graph, and Earth Engine accepts it', async () => {
    expect(await deliver({ name: 'scaled/dem.tif', contentType: 'application/octet-stream' })).toBe(204);
    const [job] = await jobs();
    expect(job!.state).toBe('PENDING');
    expect(job!.description).toBe('scaled dem.tif');
    expect(job!.request!.expression).toEqual({
      result: 'scaled',
      values: {
        image: { functionInvocationValue: { functionName: 'Image.loadGeoTIFF', arguments: { uri: { constantValue: `gs://${BUCKET}/scaled/dem.tif` } } } },
        scaled: { functionInvocationValue: { functionName: 'Image.clipToBoundsAndScale', arguments: { input: { valueReference: 'image' }, scale: { constantValue: 30 } } } },
      },
    });
    expect(sim.tasks()[0]!.request.expression).toEqual(job!.request!.expression);
  });

  it('a malformed event (wrong type, no generation, not JSON) → an ERROR line, no job, acknowledged', async () => {
    expect(await deliver({ name: 'incoming/a.tif' }, { type: 'google.cloud.storage.object.v1.deleted' })).toBe(204);
    const { generation: _g, ...noGeneration } = objectData({ name: 'incoming/b.tif' });
    expect(await deliver({ name: 'incoming/b.tif' }, { data: noGeneration })).toBe(204);
    expect(await deliver({ name: 'incoming/c.tif' }, { data: ['not', 'an', 'object'] })).toBe(204);
    expect(await jobs()).toHaveLength(0);
    const errors = logs.filter((l) => l.event === 'upload.malformed_event');
    expect(errors).toHaveLength(3);
    expect(errors.every((l) => l.severity === 'ERROR')).toBe(true);
    expect(errors[0]!.message).toMatch(/google\.cloud\.storage\.object\.v1\.deleted/);
    expect(errors[1]).toMatchObject({ eventSubject: 'objects/incoming/b.tif', problems: [expect.stringMatching(/data\.generation/)] });
  });

  it('a transient Earth Engine failure → 500 (redelivery), and the redelivery submits the same job once', async () => {
    sim.faults.inject({ kind: 'http-error', httpStatus: 503, method: 'export', times: 7 });
    const eventId = randomUUID();
    expect(await deliver({ name: 'incoming/flaky.tif' }, { eventId })).toBe(500);
    expect((await jobs())[0]!.state).toBe('SUBMITTING');
    await deliverUntilAcked({ name: 'incoming/flaky.tif' }, eventId);
    const [job, ...rest] = await jobs();
    expect(rest).toHaveLength(0);
    expect(job!.state).toBe('PENDING');
    expect(sim.stats().tasksStarted).toBe(1);
  });
});
