/** projects.assets.listImages: images added to a collection, listed oldest first with start/end time filters and pages; the admin endpoint. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../tools/ee-simulator/index.ts';
import { type GoogleErrorBody, call } from './helpers.ts';

interface Listing {
  images?: Array<{ type: string; name: string; id: string; startTime: string; endTime: string }>;
  nextPageToken?: string;
}

describe('projects.assets.listImages', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ rateLimitPerSecond: 0 });
  });
  beforeEach(() => sim.reset());
  afterAll(() => sim.close());

  const path = (collection: string, q = '') => `/v1/${collection}:listImages${q ? `?${q}` : ''}`;

  it('lists a collection oldest first, with startTime inclusive and endTime exclusive', async () => {
    sim.assets.addImages('projects/p/assets/s2', [
      { id: 'c', startTime: '2024-05-03T10:00:00Z' },
      { id: 'a', startTime: '2024-05-01T10:00:00Z', endTime: '2024-05-01T10:00:05Z', properties: { cloud: 3 } },
      { id: 'b', startTime: '2024-05-02T10:00:00Z' },
    ]);
    const all = await call<Listing>(sim, 'GET', path('projects/p/assets/s2'));
    expect(all.status).toBe(200);
    expect(all.body.images!.map((i) => i.id)).toEqual(['projects/p/assets/s2/a', 'projects/p/assets/s2/b', 'projects/p/assets/s2/c']);
    expect(all.body.images![0]).toMatchObject({ type: 'IMAGE', name: 'projects/p/assets/s2/a', startTime: '2024-05-01T10:00:00Z', endTime: '2024-05-01T10:00:05Z', properties: { cloud: 3 } });
    const since = await call<Listing>(sim, 'GET', path('projects/p/assets/s2', 'startTime=2024-05-02T10:00:00Z&endTime=2024-05-03T10:00:00Z'));
    expect(since.body.images!.map((i) => i.name)).toEqual(['projects/p/assets/s2/b']);
    expect((await call<Listing>(sim, 'GET', path('projects/p/assets/s2', 'startTime=2025-01-01T00:00:00Z'))).body).toEqual({});
    expect(sim.stats().requests.listImages).toBe(3);
  });

  it('pages, and refuses a token from a listing with other filters', async () => {
    sim.assets.addImages('LANDSAT/LC09/C02/T1_L2', Array.from({ length: 5 }, (_, i) => ({ id: `LC09_${i}`, startTime: `2024-05-0${i + 1}T00:00:00Z` })));
    const name = 'projects/earthengine-public/assets/LANDSAT/LC09/C02/T1_L2';
    const p1 = await call<Listing>(sim, 'GET', path(name, 'pageSize=2'));
    expect(p1.body.images!.map((i) => i.id)).toEqual(['LANDSAT/LC09/C02/T1_L2/LC09_0', 'LANDSAT/LC09/C02/T1_L2/LC09_1']);
    const p2 = await call<Listing>(sim, 'GET', path(name, `pageSize=2&pageToken=${p1.body.nextPageToken}`));
    const p3 = await call<Listing>(sim, 'GET', path(name, `pageSize=2&pageToken=${p2.body.nextPageToken}`));
    expect([...p2.body.images!, ...p3.body.images!].map((i) => i.id.split('/').pop())).toEqual(['LC09_2', 'LC09_3', 'LC09_4']);
    expect(p3.body.nextPageToken).toBeUndefined();
    const bad = await call<GoogleErrorBody>(sim, 'GET', path(name, `startTime=2024-05-02T00:00:00Z&pageToken=${p1.body.nextPageToken}`));
    expect(bad.status).toBe(400);
  });

  it('answers 404 for an unknown collection and 400 for a bad time', async () => {
    expect((await call<GoogleErrorBody>(sim, 'GET', path('projects/p/assets/none'))).body.error).toMatchObject({ code: 404, status: 'NOT_FOUND' });
    sim.assets.addImages('projects/p/assets/s2', []);
    expect((await call<GoogleErrorBody>(sim, 'GET', path('projects/p/assets/s2', 'startTime=yesterday'))).status).toBe(400);
    expect((await call(sim, 'POST', path('projects/p/assets/s2'), {})).status).toBe(404);
  });

  it('takes images through POST /_sim/assets/images and lists collections', async () => {
    const r = await call<{ images: number }>(sim, 'POST', '/_sim/assets/images', { collection: 'projects/p/assets/x', images: [{ id: 'i1', startTime: '2024-01-01T00:00:00Z' }] });
    expect(r).toMatchObject({ status: 200, body: { images: 1 } });
    expect((await call(sim, 'GET', '/_sim/assets')).body).toEqual({ collections: [{ collection: 'projects/p/assets/x', images: 1 }] });
    expect((await call(sim, 'POST', '/_sim/assets/images', { collection: 'x', images: [{ id: 'i', startTime: 'no' }] })).status).toBe(400);
  });
});
