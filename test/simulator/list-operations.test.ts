/** operations.list: paging with opaque tokens and the documented filter subset. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Operation, type Simulator, startSimulator } from '../../tools/ee-simulator/index.ts';
import { type FilterView, parseFilter } from '../../tools/ee-simulator/list-filter.ts';
import { type GoogleErrorBody, PROJECT, call, submit } from './helpers.ts';

interface ListReply {
  operations?: Operation[];
  nextPageToken?: string;
}

const list = (sim: Simulator, query: Record<string, string> = {}) =>
  call<ListReply & GoogleErrorBody>(sim, 'GET', `/v1/projects/${PROJECT}/operations?${new URLSearchParams(query).toString()}`);

describe('operations.list', () => {
  let sim: Simulator;
  const names: string[] = [];

  beforeAll(async () => {
    // 12 tasks 1 ms apart, odd ones at priority 200; 2 run at once for 60 s. task-4 is
    // cancelled while queued. After ~65 s: 0-1 SUCCEEDED; the queue then starts the
    // priority-200 tasks 3 and 5 (RUNNING); 2 and 6-11 stay PENDING.
    sim = await startSimulator({ rateLimitPerSecond: 0 });
    for (let i = 0; i < 12; i++) {
      names.push((await submit(sim, { description: `task-${i}`, priority: i % 2 === 0 ? 100 : 200 })).name);
      sim.clock.advance(1);
    }
    sim.clock.advance(4_990);
    await call(sim, 'POST', `/v1/${names[4]}:cancel`, {});
    sim.clock.advance(60_005);
  });
  afterAll(() => sim.close());

  const descriptions = (r: ListReply): string[] => (r.operations ?? []).map((o) => o.metadata.description);

  it('lists newest first with the default page size', async () => {
    const r = await list(sim);
    expect(r.status).toBe(200);
    expect(r.body.operations?.map((o) => o.name)).toEqual([...names].reverse());
    expect(r.body.nextPageToken).toBeUndefined();
  });

  it('pages with an opaque token until exhausted', async () => {
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const r = await list(sim, { pageSize: '5', ...(token ? { pageToken: token } : {}) });
      expect(r.status).toBe(200);
      expect(r.body.operations?.length).toBeLessThanOrEqual(5);
      seen.push(...descriptions(r.body));
      token = r.body.nextPageToken;
      if (token) expect(token).not.toMatch(/task|^\d+$/);
      pages++;
    } while (token);
    expect(pages).toBe(3);
    expect(seen).toEqual(names.map((_, i) => `task-${11 - i}`));
  });

  it('is stable when tasks are added between pages', async () => {
    const first = await list(sim, { pageSize: '6' });
    const extra = await submit(sim, { description: 'late' });
    const second = await list(sim, { pageSize: '6', pageToken: first.body.nextPageToken ?? '' });
    expect([...descriptions(first.body), ...descriptions(second.body)]).toEqual(names.map((_, i) => `task-${11 - i}`));
    await call(sim, 'DELETE', `/v1/${extra.name}`);
  });

  it('caps pageSize at 500 and rejects negative or non-numeric sizes', async () => {
    expect((await list(sim, { pageSize: '100000' })).body.operations).toHaveLength(12);
    expect((await list(sim, { pageSize: '-1' })).status).toBe(400);
    expect((await list(sim, { pageSize: 'ten' })).status).toBe(400);
  });

  it('rejects a forged token or one from another filter', async () => {
    expect((await list(sim, { pageToken: 'garbage' })).status).toBe(400);
    const first = await list(sim, { pageSize: '2', filter: 'done=false' });
    const r = await list(sim, { pageSize: '2', pageToken: first.body.nextPageToken ?? '', filter: 'done=true' });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toBe('Invalid page token.');
  });

  it.each([
    ['state=RUNNING', ['task-5', 'task-3']],
    ['metadata.state="RUNNING"', ['task-5', 'task-3']],
    ['state=running', ['task-5', 'task-3']],
    ['state=COMPLETED', ['task-1', 'task-0']],
    ['state=SUCCEEDED OR state=CANCELLED', ['task-4', 'task-1', 'task-0']],
    ['done=true', ['task-4', 'task-1', 'task-0']],
    ['done=false AND priority=200', ['task-11', 'task-9', 'task-7', 'task-5', 'task-3']],
    ['done = false AND (state = RUNNING OR priority >= 200) AND NOT description = "task-5"', ['task-11', 'task-9', 'task-7', 'task-3']],
    ['state!=PENDING', ['task-5', 'task-4', 'task-3', 'task-1', 'task-0']],
    ['description:task-1', ['task-11', 'task-10', 'task-1']],
    ['metadata.state=READY -description:"task-1"', ['task-9', 'task-8', 'task-7', 'task-6', 'task-2']],
    ['type=EXPORT_IMAGE AND endTime>="2000-01-01T00:00:00Z"', ['task-4', 'task-1', 'task-0']],
  ])('filters %s', async (filter, expected) => {
    const r = await list(sim, { filter });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(descriptions(r.body)).toEqual(expected);
  });

  it('answers {} when nothing matches', async () => {
    const r = await list(sim, { filter: 'state=FAILED' });
    expect(r.body).toEqual({});
  });

  it.each(['state=', 'state=BOGUS', 'colour=red', 'done=maybe', '(state=RUNNING', 'state=RUNNING OR', 'createTime>"yesterday"', 'priority=high', 'state<RUNNING'])(
    'rejects the bad filter %s with 400',
    async (filter) => {
      const r = await list(sim, { filter });
      expect(r.status).toBe(400);
      expect(r.body.error).toMatchObject({ status: 'INVALID_ARGUMENT', message: expect.stringMatching(/^Invalid filter: /) });
    },
  );
});

describe('parseFilter', () => {
  const view: FilterView = { name: 'projects/p/operations/X', state: 'RUNNING', done: false, type: 'EXPORT_IMAGE', description: 'nightly b4', priority: 100, createTime: Date.parse('2025-01-01T00:00:00Z'), updateTime: Date.parse('2025-01-01T01:00:00Z'), startTime: Date.parse('2025-01-01T00:10:00Z') };

  it.each([
    ['', true],
    ['   ', true],
    ['createTime<2025-01-02T00:00:00Z', true],
    ['update_time>"2025-01-01T00:30:00Z"', true],
    ['endTime>"2000-01-01T00:00:00Z"', false],
    ['state=RUNNING state=PENDING', false],
    ['NOT done=true', true],
    ['name="projects/p/operations/X"', true],
    ['description="nightly b4" AND priority<101', true],
  ])('%s → %s', (filter, expected) => {
    expect(parseFilter(filter)(view)).toBe(expected);
  });
});
