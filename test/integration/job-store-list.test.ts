/**
 * JobStore.listJobs on the Firestore emulator: every filter alone and combined, paging
 * through several pages, and the page token. (The emulator does not check composite
 * indexes; test/unit/job-store-indexes.test.ts holds the declared list against the
 * queries.)
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Firestore } from '@google-cloud/firestore';
import { emulatorsOrSkip } from '../harness/emulators.ts';
import { createFirestoreJobStore } from '../../functions/src/adapters/job-store.firestore.ts';
import { newJob, type Job, type JobState } from '../../functions/src/core/jobs/job.ts';
import { InvalidPageTokenError } from '../../functions/src/core/kernel/page-token.ts';
import type { JobListQuery, JobStore } from '../../functions/src/core/ports.ts';

const emu = emulatorsOrSkip('JobStore.listJobs integration');

const hex = (n: number) => n.toString(16).padStart(32, '0');

/** 12 jobs: states, projects, labels and update times spread so every filter selects a different subset. */
function fixtures(): Job[] {
  const states: JobState[] = ['QUEUED', 'PENDING', 'RUNNING', 'SUCCEEDED'];
  return Array.from({ length: 12 }, (_, i) => {
    // Two pairs share an update time, so paging must break ties by id.
    const at = new Date(Date.UTC(2026, 0, 1, 0, 0, i === 5 ? 4 : i === 9 ? 8 : i)).toISOString();
    return newJob(
      {
        jobId: hex(i + 1),
        state: states[i % 4]!,
        eeProject: i % 3 === 0 ? 'ee-project-b' : 'ee-project-a',
        request: null,
        requestId: `r-${i}`,
        identity: `key:${i}`,
        labels: i % 2 === 0 ? { team: 'forest', run: `r${i}` } : { team: 'water' },
        callbackUrl: null,
        source: { kind: 'api' },
      },
      at,
    );
  });
}

describe.skipIf(!emu)('JobStore.listJobs (Firestore emulator)', () => {
  let firestore: Firestore;
  let store: JobStore;
  const all = fixtures();

  beforeAll(async () => {
    await emu!.clear();
    firestore = new Firestore({ projectId: emu!.projectId, host: emu!.firestoreHost, ssl: false, ignoreUndefinedProperties: true });
    store = createFirestoreJobStore(firestore);
    for (const job of all) await store.transact(async (tx) => tx.createJob(job));
  });
  afterAll(async () => {
    await firestore?.terminate();
  });

  /** What the query should return, newest update first, ties by id descending. */
  const expected = (q: Omit<JobListQuery, 'pageSize'>) =>
    all
      .filter((j) => !q.states?.length || q.states.includes(j.state))
      .filter((j) => !q.eeProject || j.eeProject === q.eeProject)
      .filter((j) => !q.label || j.labels[q.label.key] === q.label.value)
      .filter((j) => !q.updatedAfter || j.updateTime >= q.updatedAfter)
      .filter((j) => !q.updatedBefore || j.updateTime < q.updatedBefore)
      .sort((a, b) => b.updateTime.localeCompare(a.updateTime) || b.jobId.localeCompare(a.jobId))
      .map((j) => j.jobId);

  /** Every page, following nextPageToken. */
  async function pages(q: Omit<JobListQuery, 'pageSize'>, pageSize: number): Promise<string[][]> {
    const out: string[][] = [];
    let pageToken: string | undefined;
    for (let i = 0; i < 50; i++) {
      const page = await store.listJobs({ ...q, pageSize, ...(pageToken ? { pageToken } : {}) });
      out.push(page.jobs.map((j) => j.jobId));
      if (!page.nextPageToken) return out;
      pageToken = page.nextPageToken;
    }
    throw new Error('did not end');
  }

  const T = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
  const QUERIES: [string, Omit<JobListQuery, 'pageSize'>][] = [
    ['no filter', {}],
    ['one state', { states: ['QUEUED'] }],
    ['several states', { states: ['QUEUED', 'RUNNING'] }],
    ['project', { eeProject: 'ee-project-a' }],
    ['label', { label: { key: 'team', value: 'forest' } }],
    ['label on another key', { label: { key: 'run', value: 'r4' } }],
    ['updatedAfter', { updatedAfter: T(6) }],
    ['updatedBefore', { updatedBefore: T(6) }],
    ['time window', { updatedAfter: T(3), updatedBefore: T(9) }],
    ['state + project', { states: ['QUEUED', 'PENDING'], eeProject: 'ee-project-a' }],
    ['state + label', { states: ['QUEUED'], label: { key: 'team', value: 'forest' } }],
    ['project + label', { eeProject: 'ee-project-b', label: { key: 'team', value: 'forest' } }],
    ['state + project + label + window', { states: ['QUEUED', 'RUNNING', 'PENDING'], eeProject: 'ee-project-a', label: { key: 'team', value: 'forest' }, updatedAfter: T(1) }],
    ['label + window', { label: { key: 'team', value: 'water' }, updatedBefore: T(9) }],
    ['nothing matches', { label: { key: 'team', value: 'fire' } }],
  ];

  it.each(QUERIES)('%s: the right jobs, newest first', async (_name, q) => {
    const page = await store.listJobs({ ...q, pageSize: 200 });
    expect(page.jobs.map((j) => j.jobId)).toEqual(expected(q));
    expect(page.nextPageToken).toBeNull();
  });

  it.each(QUERIES)('%s: paging by 2 and by 5 yields the same jobs, each once, in order', async (_name, q) => {
    for (const size of [2, 5]) {
      const got = await pages(q, size);
      expect(got.flat()).toEqual(expected(q));
      expect(got.slice(0, -1).every((p) => p.length === size)).toBe(true);
    }
  });

  it('refuses a page token it did not issue, or one from a different query', async () => {
    await expect(store.listJobs({ pageSize: 2, pageToken: 'garbage!' })).rejects.toBeInstanceOf(InvalidPageTokenError);
    await expect(store.listJobs({ pageSize: 2, pageToken: Buffer.from('{"a":1}').toString('base64url') })).rejects.toBeInstanceOf(InvalidPageTokenError);
    const first = await store.listJobs({ pageSize: 2, states: ['QUEUED'] });
    await expect(store.listJobs({ pageSize: 2, states: ['RUNNING'], pageToken: first.nextPageToken! })).rejects.toBeInstanceOf(InvalidPageTokenError);
  });

  /** Every page liveJobPages hands over, as jobIds. */
  async function livePages(q: { after?: string | null; limit: number; pageSize: number }): Promise<string[][]> {
    const out: string[][] = [];
    for await (const page of store.liveJobPages(q)) out.push(page.map((j) => j.jobId));
    return out;
  }

  it('liveJobPages: the live jobs in jobId order, in pages of pageSize from one query, after a jobId and up to a limit', async () => {
    const live = all.filter((j) => j.state === 'PENDING' || j.state === 'RUNNING').map((j) => j.jobId).sort();
    expect(live).toHaveLength(6);
    expect(await livePages({ limit: 100, pageSize: 4 })).toEqual([live.slice(0, 4), live.slice(4)]);
    expect(await livePages({ limit: 5, pageSize: 2 })).toEqual([live.slice(0, 2), live.slice(2, 4), live.slice(4, 5)]);
    expect(await livePages({ after: live[2], limit: 100, pageSize: 2 })).toEqual([live.slice(3, 5), live.slice(5)]);
    expect(await livePages({ after: live[5], limit: 100, pageSize: 2 })).toEqual([]);
  });

  it('listQueuedProjects: each project with QUEUED jobs once (a skip scan, one query per project), in order', async () => {
    const queued = all.filter((j) => j.state === 'QUEUED');
    // ee-project-a has two queued jobs: the scan starts after a project's last one, not after the job.
    expect(queued.filter((j) => j.eeProject === 'ee-project-a').length).toBeGreaterThan(1);
    expect(await store.listQueuedProjects()).toEqual([...new Set(queued.map((j) => j.eeProject))].sort());
  });

  it('liveJobPages: leaving the loop early ends the query', async () => {
    const first: string[] = [];
    for await (const page of store.liveJobPages({ limit: 100, pageSize: 1 })) {
      first.push(page[0]!.jobId);
      break;
    }
    expect(first).toHaveLength(1);
    // The store still answers: the abandoned stream left nothing half-open behind it.
    expect((await livePages({ limit: 100, pageSize: 6 })).flat()).toHaveLength(6);
  });
});
