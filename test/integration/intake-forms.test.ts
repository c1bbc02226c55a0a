/**
 * The intake table (test/fakes/intake-forms.ts) on the four ways in, end to end on the
 * Firestore and Pub/Sub emulators with the Earth Engine simulator: the requests topic,
 * the HTTP API, uploads and batches (on the topic and the API). One row per form:
 *
 * - a refused form is a REJECTED job (topic), a 400 (API), a rules document refused at
 *   start (uploads; and a REJECTED job where the form comes from the object, e.g. a
 *   workloadTag made from the file name), a REJECTED batch or a 400 (batches); each
 *   error names the field; Earth Engine is never called;
 * - an accepted form becomes a job whose request is the normalized one, and that is
 *   what Earth Engine (the simulator) receives.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import '../../functions/src/entry/submit-export.entry.ts';
import '../../functions/src/entry/api.entry.ts';
import '../../functions/src/entry/on-object-finalized.entry.ts';
import { startSimulator, type Simulator } from '../../tools/ee-simulator/index.ts';
import { emulatorsOrSkip } from '../harness/emulators.ts';
import { startTestStack, testConfig, pushMessage, type TestStack } from '../harness/stack.ts';
import { ACCEPTED_FORMS, PROJECT_NUMBER, REFUSED_FORMS, at, baseRequest, hasPath, uploadTemplate, type AcceptedForm, type Body, type RefusedForm } from '../fakes/intake-forms.ts';
import { assetSafe } from '../../functions/src/core/uploads/upload-rules.ts';
import type { Job } from '../../functions/src/core/jobs/job.ts';
import type { Batch } from '../../functions/src/core/batches/batch.ts';

const emu = emulatorsOrSkip('intake forms integration');

const BUCKET = 'eeport-uploads';
const ALLOWED = `ee-test-project,${PROJECT_NUMBER}`;

/** One upload rule per accepted form, claiming `forms/{i}/`. */
const acceptedRule = (form: AcceptedForm, i: number) => ({
  name: `accepted-${i}`,
  match: { bucket: BUCKET, prefix: `forms/${i}/` },
  ...(form.eeProject ? { eeProject: form.eeProject } : {}),
  request: uploadTemplate(form.request),
});
/** A rule whose workloadTag is the upload's file name: the form then comes from the object. */
const TAG_RULE = { name: 'tag-from-name', match: { bucket: BUCKET, prefix: 'tagged/' }, request: { ...uploadTemplate(baseRequest()), workloadTag: '{{stem}}' } };
const RULES = { rules: [...ACCEPTED_FORMS.map(acceptedRule), TAG_RULE] };

const env = { EE_ALLOWED_PROJECTS: ALLOWED, UPLOAD_RULES: JSON.stringify(RULES), POLL_WINDOW_SECONDS: '0', POLL_AUTH_DISABLED: 'true' };

/** The path a refused form's error must name on one way in: the request's field under `prefix`, or the project field. */
const named = (f: RefusedForm, prefix: string, projectPath = 'eeProject') => (f.eeProject !== undefined ? projectPath : prefix + f.path);

describe.skipIf(!emu)('intake table on the topic, the API, uploads and batches (emulators + simulator)', () => {
  let sim: Simulator;
  let stack: TestStack;

  beforeAll(async () => {
    sim = await startSimulator({ clock: { mode: 'manual' }, rateLimitPerSecond: 0 });
    stack = await startTestStack(testConfig(emu!, sim.url, env));
  });
  afterAll(async () => {
    await stack?.close();
    await sim?.close();
  });

  const ids = async (collection: string) => new Set((await stack.firestore.collection(collection).get()).docs.map((d) => d.id));
  /** Runs `act` and returns the one document it created in `collection`. */
  async function created<T>(collection: string, act: () => Promise<unknown>): Promise<T> {
    const before = await ids(collection);
    await act();
    const fresh = [...(await ids(collection))].filter((id) => !before.has(id));
    expect(fresh, `new ${collection}`).toHaveLength(1);
    return collection === 'jobs' ? ((await stack.services.adapters.store.getJob(fresh[0]!)) as T) : ((await stack.firestore.collection(collection).doc(fresh[0]!).get()).data() as T);
  }
  const exportsSoFar = () => sim.stats().requests.export ?? 0;

  /** The job's request and what the simulator received are the normalized form. */
  function expectSentOn(job: Job, form: AcceptedForm) {
    expect(job.eeProject).toBe(form.eeProject ?? 'ee-test-project');
    expect(job.request).toMatchObject(form.sent);
    const task = sim.tasks(job.eeProject).find((t) => t.name === job.operationName);
    expect(task, `a task for ${job.jobId}`).toBeDefined();
    expect(task!.request).toMatchObject(form.sent);
    for (const path of form.absent ?? []) {
      expect(hasPath(job.request, path), `job.request.${path}`).toBe(false);
      // eeport gives every request it sends on a requestId: the client's, or one derived from the job.
      if (path === 'requestId') expect(task!.request.requestId).toBe(job.requestId);
      else expect(hasPath(task!.request, path), `task.request.${path}`).toBe(false);
    }
    expect(JSON.stringify(task!.request)).not.toMatch(/(?<!"constantValue"):null/);
  }

  const releaseQueued = async () => {
    await stack.services.pollExports().run();
  };

  describe('the requests topic', () => {
    it.each(REFUSED_FORMS)('refuses $name: a REJECTED job naming $path; Earth Engine not called', async (form) => {
      const calls = exportsSoFar();
      const attributes: Record<string, string> = form.eeProject ? { eeProject: form.eeProject } : {};
      const job = await created<Job>('jobs', () => stack.deliverUntilAcked('submitExport', pushMessage(form.request, attributes)));
      expect(job.state).toBe('REJECTED');
      expect(job.error!.details).toContainEqual({ path: named(form, ''), message: expect.stringMatching(form.rule) });
      expect(exportsSoFar()).toBe(calls);
    });

    it.each(ACCEPTED_FORMS)('accepts $name and sends it on normalized', async (form) => {
      const attributes: Record<string, string> = form.eeProject ? { eeProject: form.eeProject } : {};
      const job = await created<Job>('jobs', () => stack.deliverUntilAcked('submitExport', pushMessage(form.request, attributes)));
      expect(job.state, JSON.stringify(job.error)).toBe('PENDING');
      expectSentOn(job, form);
    });
  });

  describe('the HTTP API (POST /v1/jobs, envelope)', () => {
    const post = (body: unknown, path = '/v1/jobs') => stack.http('api', path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const envelope = (f: { request: Body; eeProject?: string }) => ({ request: f.request, ...(f.eeProject ? { eeProject: f.eeProject } : {}) });

    it.each(REFUSED_FORMS)('refuses $name: 400 naming $path; nothing stored', async (form) => {
      const before = await ids('jobs');
      const calls = exportsSoFar();
      const res = await post(envelope(form));
      const body = (await res.json()) as { error: { code: string; details: { path: string; message: string }[] } };
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(body.error.code).toBe(form.eeProject ? 'EXPORT.INVALID_ENVELOPE' : 'EXPORT.INVALID_REQUEST');
      expect(body.error.details).toContainEqual({ path: named(form, 'request.'), message: expect.stringMatching(form.rule) });
      expect(await ids('jobs')).toEqual(before);
      expect(exportsSoFar()).toBe(calls);
    });

    it.each(ACCEPTED_FORMS)('accepts $name: 202 and sends it on normalized', async (form) => {
      const res = await post(envelope(form));
      const out = (await res.json()) as { jobId: string; state: string };
      expect(res.status, JSON.stringify(out)).toBe(202);
      expect(out.state).toBe('PENDING');
      expectSentOn((await stack.services.adapters.store.getJob(out.jobId))!, form);
    });

    describe('batches (POST /v1/batches)', () => {
      it.each(REFUSED_FORMS)('refuses a batch with $name: 400 naming it; nothing stored', async (form) => {
        const before = await ids('batches');
        const res = await post({ requests: [form.request], ...(form.eeProject ? { eeProject: form.eeProject } : {}) }, '/v1/batches');
        const body = (await res.json()) as { error: { code: string; details: { path: string; message: string }[] } };
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(body.error.code).toBe('BATCH.INVALID');
        expect(body.error.details).toContainEqual({ path: named(form, 'children[0].'), message: expect.stringMatching(form.rule) });
        expect(await ids('batches')).toEqual(before);
      });

      it.each(ACCEPTED_FORMS)('accepts a batch with $name; the child is sent on normalized', async (form) => {
        const res = await post({ requests: [form.request], ...(form.eeProject ? { eeProject: form.eeProject } : {}) }, '/v1/batches');
        const out = (await res.json()) as { batchId: string };
        expect(res.status, JSON.stringify(out)).toBe(202);
        const [child] = await stack.services.adapters.store.listBatchChildren(out.batchId, { limit: 2 });
        expect(child!.request).toMatchObject(form.sent);
        await releaseQueued();
        const job = (await stack.services.adapters.store.getJob(child!.jobId))!;
        expect(job.state).toBe('PENDING');
        expectSentOn(job, form);
      });
    });
  });

  describe('batches on the topic ({"batch": …})', () => {
    it.each(REFUSED_FORMS)('refuses a batch with $name: a REJECTED batch naming it, no jobs', async (form) => {
      const jobsBefore = await ids('jobs');
      const batch = await created<Batch>('batches', () => stack.deliverUntilAcked('submitExport', pushMessage({ batch: { requests: [form.request], ...(form.eeProject ? { eeProject: form.eeProject } : {}) } })));
      expect(batch.state).toBe('REJECTED');
      expect(batch.error!.details).toContainEqual({ path: named(form, 'batch.children[0].', 'batch.eeProject'), message: expect.stringMatching(form.rule) });
      expect(await ids('jobs')).toEqual(jobsBefore);
    });

    it.each(ACCEPTED_FORMS)('accepts a batch with $name; the child is sent on normalized', async (form) => {
      const child = await created<Job>('jobs', () => stack.deliverUntilAcked('submitExport', pushMessage({ batch: { requests: [form.request], ...(form.eeProject ? { eeProject: form.eeProject } : {}) } })));
      expect(child.state).toBe('QUEUED');
      expect(child.request).toMatchObject(form.sent);
      await releaseQueued();
      const job = (await stack.services.adapters.store.getJob(child.jobId))!;
      expect(job.state).toBe('PENDING');
      expectSentOn(job, form);
    });
  });

  describe('uploads', () => {
    let generation = 1718000000000000;
    /** One finalized-object event, as Eventarc delivers it in binary mode. */
    const upload = (name: string) =>
      stack.http('onObjectFinalized', '', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'ce-id': `upload-${++generation}`,
          'ce-specversion': '1.0',
          'ce-type': 'google.cloud.storage.object.v1.finalized',
          'ce-source': `//storage.googleapis.com/projects/_/buckets/${BUCKET}`,
          'ce-subject': `objects/${name}`,
          'ce-time': new Date().toISOString(),
        },
        body: JSON.stringify({ kind: 'storage#object', name, bucket: BUCKET, generation: String(generation), metageneration: '1', contentType: 'image/tiff', size: '1024' }),
      });

    it.each(REFUSED_FORMS)('refuses a rule with $name at start: the configuration error names the rule and the field', (form) => {
      const rules = { rules: [{ name: 'refused', match: { bucket: BUCKET, prefix: 'x/' }, ...(form.eeProject ? { eeProject: form.eeProject } : {}), request: uploadTemplate(form.request) }] };
      const path = form.eeProject !== undefined ? 'eeProject' : `request.${form.path}`;
      expect(() => testConfig(emu!, sim.url, { ...env, UPLOAD_RULES: JSON.stringify(rules) })).toThrow(
        new RegExp(`UPLOAD_RULES: rules\\[0\\] \\(refused\\)\\.${path.replaceAll('.', '\\.')}: .*${form.rule.source}`),
      );
    });

    // A form an object can bring in through a placeholder: the workloadTag made from the file name.
    const fromName = REFUSED_FORMS.filter((f) => f.path === 'workloadTag' && typeof f.request.workloadTag === 'string' && assetSafe(f.request.workloadTag) === f.request.workloadTag);
    it.each(fromName)('refuses an upload whose file name makes $name: a REJECTED job naming workloadTag', async (form) => {
      const calls = exportsSoFar();
      const job = await created<Job>('jobs', async () => expect((await upload(`tagged/${String(form.request.workloadTag)}.tif`)).status).toBe(204));
      expect(job.state).toBe('REJECTED');
      expect(job.error!.details).toContainEqual({ path: 'workloadTag', message: expect.stringMatching(form.rule) });
      expect(exportsSoFar()).toBe(calls);
    });

    it('accepts an upload whose file name makes a valid workloadTag', async () => {
      const job = await created<Job>('jobs', async () => expect((await upload('tagged/nightly-run_2.tif')).status).toBe(204));
      expect(job.state).toBe('PENDING');
      expect(job.request!.workloadTag).toBe('nightly-run_2');
    });

    it.each(ACCEPTED_FORMS.map((form, i) => ({ ...form, i })))('accepts a rule with $name; the upload is sent on normalized', async (form) => {
      const job = await created<Job>('jobs', async () => expect((await upload(`forms/${form.i}/scene.tif`)).status).toBe(204));
      expect(job.state, JSON.stringify(job.error)).toBe('PENDING');
      expect(at(job.source, 'kind')).toBe('upload');
      expectSentOn(job, form);
    });
  });
});
