/**
 * The official @google/earthengine client, pointed at the simulator, must work
 * unchanged: initialize, export to Cloud Storage, list, see the task finish, cancel.
 * Only asynchronous (callback) calls are used: the client's synchronous mode blocks the
 * event loop, which would also block this in-process server.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../tools/ee-simulator/index.ts';
import { referenceExpression } from './helpers.ts';

/** The subset of the client's untyped API this test uses. */
interface EeOperation {
  name: string;
  done: boolean | null;
  metadata: { state: string; description: string; progress?: number; destinationUris?: string[] };
  error: { code: number; message: string } | null;
}
type Callback<T> = (value: T, error?: string) => void;
interface EeImage {
  select(bands: string[]): EeImage;
  rename(names: string[]): EeImage;
}
interface EeTask {
  id: string | null;
  start(onSuccess: () => void, onError: (error: string) => void): void;
}
interface EeClient {
  initialize(baseUrl: string, tileUrl: null, onSuccess: () => void, onError: (e: Error) => void, xsrf: null, project: string): void;
  reset(): void;
  Image: ((id: string) => EeImage) & { constant(v: number): EeImage };
  Geometry: { Rectangle(coords: number[]): unknown };
  batch: { Export: { image: { toCloudStorage(params: Record<string, unknown>): EeTask; toDrive(params: Record<string, unknown>): EeTask } } };
  data: {
    setAuthToken(clientId: string, type: string, token: string, expiresIn: number, scopes: string[], cb: undefined, updateAuthLibrary: boolean): void;
    listOperations(limit: number | undefined, cb: Callback<EeOperation[]>): void;
    cancelOperation(name: string, cb: Callback<unknown>): void;
  };
}

const ee = createRequire(import.meta.url)('@google/earthengine') as EeClient;
const PROJECT = 'client-project';

function promisify<T>(fn: (cb: Callback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((value, error) => (error ? reject(new Error(error)) : resolve(value))));
}
const start = (task: EeTask): Promise<void> => new Promise((resolve, reject) => task.start(resolve, (e) => reject(new Error(e))));
const opName = (task: EeTask): string => `projects/${PROJECT}/operations/${task.id}`;

describe('official @google/earthengine client against the simulator', () => {
  let sim: Simulator;

  beforeAll(async () => {
    sim = await startSimulator({ clock: { mode: 'manual' } });
    ee.data.setAuthToken('test-client', 'Bearer', 'client-token', 3600, [], undefined, false);
    await new Promise<void>((resolve, reject) => ee.initialize(sim.url, null, resolve, reject, null, PROJECT));
  });

  afterAll(async () => {
    ee.reset();
    await sim.close();
  });

  it('initializes from the algorithms list (one authenticated call)', () => {
    expect(sim.stats().requests.algorithms).toBe(1);
    expect(typeof ee.Image('projects/p/assets/a').select).toBe('function');
  });

  it('exports to Cloud Storage with the body shape of the reference doc, lists it and sees it finish', async () => {
    const image = ee.Image('projects/p/assets/a').select(['B4']);
    const task = ee.batch.Export.image.toCloudStorage({ image, description: 'd', bucket: 'b', fileNamePrefix: 'x', scale: 30, maxPixels: 1e10 });
    await start(task);

    // The client replaces its requestId (a UUID) with the server-assigned operation id.
    expect(task.id).toMatch(/^[A-Z0-9]{24}$/);
    const [posted] = sim.tasks(PROJECT);
    expect(posted?.request).toEqual({
      description: 'd',
      expression: referenceExpression(),
      fileExportOptions: {
        cloudStorageDestination: { bucket: 'b', filenamePrefix: 'x' },
        fileFormat: 'GEO_TIFF',
        geoTiffOptions: { cloudOptimized: false, skipEmptyFiles: false },
      },
      maxPixels: '10000000000',
      requestId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
    });
    expect(posted?.requestId).not.toBe(task.id);

    expect(posted?.state).toBe('PENDING');

    sim.clock.advance(5_000 + 60_000);
    const listed = await promisify<EeOperation[]>((cb) => ee.data.listOperations(undefined, cb));
    expect(listed.map((o) => o.name)).toEqual([opName(task)]);
    const [done] = listed;
    expect(done?.done).toBe(true);
    expect(done?.metadata.state).toBe('SUCCEEDED');
    expect(done?.metadata.destinationUris).toEqual(['https://console.developers.google.com/storage/browser/b/']);
    expect(sim.stats().requests.list).toBe(1);
  });

  it('cancels a pending task and a running one', async () => {
    const region = ee.Geometry.Rectangle([-122.5, 37.5, -122.0, 38.0]);
    const pending = ee.batch.Export.image.toDrive({ image: ee.Image.constant(1).rename(['c']), description: 'to-cancel', folder: 'f', dimensions: '100x100', region });
    const running = ee.batch.Export.image.toCloudStorage({ image: ee.Image('projects/p/assets/a'), description: 'running', bucket: 'b', region, scale: 10 });
    await start(running);
    sim.clock.advance(5_000);
    await start(pending);

    // The client spaces its calls 350 ms apart, so intermediate states are read from the simulator.
    await promisify((cb) => ee.data.cancelOperation(opName(pending), cb));
    await promisify((cb) => ee.data.cancelOperation(opName(running), cb));
    expect(sim.tasks(PROJECT).map((t) => [t.description, t.state])).toEqual([
      ['d', 'SUCCEEDED'],
      ['running', 'CANCELLING'],
      ['to-cancel', 'CANCELLED'],
    ]);
    sim.clock.advance(2_000);
    const listed = await promisify<EeOperation[]>((cb) => ee.data.listOperations(undefined, cb));
    expect(listed.map((o) => [o.metadata.description, o.metadata.state, o.error?.code])).toEqual([
      ['to-cancel', 'CANCELLED', 1],
      ['running', 'CANCELLED', 1],
      ['d', 'SUCCEEDED', undefined],
    ]);

    // What the client generated for the region + dimensions export is accepted as-is.
    const drive = sim.tasks(PROJECT).find((t) => t.description === 'to-cancel');
    expect(JSON.stringify(drive?.request.expression)).toContain('GeometryConstructors.Polygon');
    expect(sim.stats().requests).toMatchObject({ export: 3, cancel: 2 });
  });

  it('surfaces simulator errors to the client callback', async () => {
    const task = ee.batch.Export.image.toCloudStorage({ image: ee.Image('projects/p/assets/a'), description: 'bad', bucket: 'gs://b', scale: 30 });
    await expect(start(task)).rejects.toThrow(/cloudStorageDestination\.bucket/);
  });
});
