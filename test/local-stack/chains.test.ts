/**
 * Chains on the local stack (Google's Firestore and Pub/Sub emulators, the Earth Engine
 * simulator, the scheduler stand-in ticking pollExports): a two-step chain — an export
 * to an asset, then an export of that asset to Cloud Storage as a COG — runs the second
 * step with the first's asset id once the first has SUCCEEDED, and skips it when the
 * first fails (the simulator fails the task).
 */
import { describe, expect, it } from 'vitest';
import { missingEmulators, stateDirFor, apiCaller, until } from '../harness/local-stack.ts';
import { startLocalStack } from '../../tools/local-stack/stack.ts';
import { LOCAL_EE_PROJECT } from '../../tools/local-stack/local-config.ts';

const missing = missingEmulators(`the local stack's chain runs`);

const stateDir = stateDirFor('chains');

const KEY = 'chains-test-key-0123456789abcdef';

const api = apiCaller(KEY);

const wait = <T>(what: string, fn: () => Promise<T | null | undefined | false>) => until(what, fn, 60_000);

const load = (id: string) => ({ result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: id } } } } } });
const chainBody = (name: string) => ({
  request: { description: `${name} to asset`, expression: load('projects/p/assets/src'), assetExportOptions: { earthEngineDestination: { name: `projects/${LOCAL_EE_PROJECT}/assets/${name}` } } },
  idempotencyKey: `chain-${name}`,
  then: [
    {
      step: 'cog',
      request: {
        description: 'cog {{previous.jobId}}',
        expression: load('{{previous.assetId}}'),
        fileExportOptions: { fileFormat: 'GEO_TIFF', geoTiffOptions: { cloudOptimized: true }, cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: `cog/${name}` } },
      },
    },
  ],
});

type ChainView = { state: string; steps: { step: string; state: string; id: string; reason: string | null; jobState: string | null }[] };

describe.skipIf(missing.length > 0)('chains on the local stack', () => {
  it('asset export → COG of that asset: the second step runs with the first’s asset id, and is SKIPPED when the first fails', async () => {
    const stack = await startLocalStack({ mode: 'emulators', ports: 'free', stateDir, print: () => {}, pollEverySeconds: 1, env: { API_AUTH: 'api-key', API_KEYS: KEY } });
    try {
      // An invalid chain is refused at submit, and nothing is stored.
      const cyclic = await api(stack, 'POST', '/v1/jobs', { ...chainBody('cyclic'), then: [{ step: 'a', after: ['b'], request: chainBody('x').then[0]!.request }, { step: 'b', after: ['a'], request: chainBody('y').then[0]!.request }] });
      expect(cyclic.status).toBe(400);
      expect(cyclic.body).toMatchObject({ error: { code: 'CHAIN.INVALID' } });

      // Success: the COG export reads the asset the first step wrote.
      const ok = await api(stack, 'POST', '/v1/jobs', chainBody('ndvi'));
      expect(ok.status, JSON.stringify(ok.body)).toBe(202);
      const rootId = (ok.body!.job as { jobId: string }).jobId;
      const done = await wait('the chain to succeed', async () => {
        const v = (await api(stack, 'GET', `/v1/chains/${rootId}`)).body as ChainView | null;
        return v?.state === 'SUCCEEDED' && v;
      });
      expect(done.steps.map((s) => [s.step, s.state])).toEqual([['root', 'SUCCEEDED'], ['cog', 'SUCCEEDED']]);
      const cogJob = (await api(stack, 'GET', `/v1/jobs/${done.steps[1]!.id}`)).body as { description: string; chain: unknown; source: unknown };
      expect(cogJob).toMatchObject({ description: `cog ${rootId}`, chain: { chainId: rootId, step: 'cog' }, source: { kind: 'chain', chainId: rootId, step: 'cog' } });
      expect(((await api(stack, 'GET', `/v1/jobs/${rootId}`)).body as { chain: unknown }).chain).toEqual({ chainId: rootId, step: 'root' });
      const tasks = stack.simulator.tasks();
      const cogTask = tasks.find((t) => String(t.request.description) === `cog ${rootId}`)!;
      expect(cogTask, 'the COG export reached Earth Engine').toBeDefined();
      expect(JSON.stringify(cogTask.request.expression)).toContain(`projects/${LOCAL_EE_PROJECT}/assets/ndvi`);
      const rootTask = tasks.find((t) => String(t.request.description) === 'ndvi to asset')!;
      expect(tasks.indexOf(rootTask) < tasks.indexOf(cogTask), 'the COG export started after the asset export').toBe(true);

      // Failure: the simulator fails the asset export (permanently); the COG step is skipped, never sent.
      stack.simulator.faults.inject({ kind: 'task-failure', match: { description: '^broken to asset' }, atProgress: 0.2, code: 8, message: 'User memory limit exceeded.' });
      const bad = await api(stack, 'POST', '/v1/jobs', chainBody('broken'));
      expect(bad.status, JSON.stringify(bad.body)).toBe(202);
      const badId = (bad.body!.job as { jobId: string }).jobId;
      const failed = await wait('the chain to fail', async () => {
        const v = (await api(stack, 'GET', `/v1/chains/${badId}`)).body as ChainView | null;
        return v?.state === 'FAILED' && v;
      });
      expect(failed.steps.map((s) => [s.step, s.state])).toEqual([['root', 'FAILED'], ['cog', 'SKIPPED']]);
      expect(failed.steps[1]!.reason).toMatch(/User memory limit exceeded/);
      const skipped = (await api(stack, 'GET', `/v1/jobs/${failed.steps[1]!.id}`)).body as { state: string; error: { code: string } };
      expect(skipped).toMatchObject({ state: 'SKIPPED', error: { code: 'CHAIN.SKIPPED' } });
      expect(stack.simulator.tasks().filter((t) => String(t.request.description).startsWith('cog ') && String(t.request.description).includes(badId))).toEqual([]);

      // Fan-in: a step after a whole batch starts once every child has succeeded, with the batch's id.
      const gcs = (prefix: string) => ({ description: prefix, expression: load('projects/p/assets/src'), fileExportOptions: { fileFormat: 'GEO_TIFF', cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: prefix } } });
      const batch = await api(stack, 'POST', '/v1/batches', { batchId: 'tiles', requests: [gcs('tile-0'), gcs('tile-1')], then: [{ step: 'index', request: gcs('index-{{previous.batchId}}') }] });
      expect(batch.status, JSON.stringify(batch.body)).toBe(202);
      const batchId = batch.body!.batchId as string;
      const fanIn = await wait('the batch chain to succeed', async () => {
        const v = (await api(stack, 'GET', `/v1/chains/${batchId}`)).body as ChainView | null;
        return v?.state === 'SUCCEEDED' && v;
      });
      expect(fanIn.steps.map((s) => [s.step, s.state])).toEqual([['root', 'SUCCEEDED'], ['index', 'SUCCEEDED']]);
      const all = stack.simulator.tasks();
      const indexTask = all.findIndex((t) => String(t.request.description) === `index-${batchId}`);
      expect(indexTask).toBeGreaterThan(all.findIndex((t) => String(t.request.description) === 'tile-0'));
      expect(indexTask).toBeGreaterThan(all.findIndex((t) => String(t.request.description) === 'tile-1'));
    } finally {
      await stack.stop();
    }
  }, 180_000);
});
