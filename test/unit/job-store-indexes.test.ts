/**
 * The emulator runs any query without an index; production Firestore refuses one whose
 * composite index is missing. So every shape of listJobs query is checked here against
 * the declared list (which infra/firestore.indexes.json is generated from).
 */
import { describe, it, expect } from 'vitest';
import { FIRESTORE_INDEXES, jobToDoc, labelPairs, listJobsIndex } from '../../functions/src/adapters/job-store.firestore.ts';
import { newJob } from '../../functions/src/core/jobs/job.ts';
import type { JobListQuery } from '../../functions/src/core/ports.ts';

describe('listJobs indexes', () => {
  const filters: Pick<JobListQuery, 'states' | 'eeProject' | 'label'>[] = [];
  for (const states of [undefined, ['QUEUED'], ['QUEUED', 'RUNNING']] as const)
    for (const eeProject of [undefined, 'ee-project-1'])
      for (const label of [undefined, { key: 'team', value: 'forest' }, { key: 'any_key_at_all', value: 'v' }])
        filters.push({ ...(states ? { states: [...states] } : {}), ...(eeProject ? { eeProject } : {}), ...(label ? { label } : {}) });

  it.each(filters.map((f) => [JSON.stringify(f), f] as const))('%s has a declared index (or needs none)', (_name, f) => {
    const need = listJobsIndex(f);
    if (need === null) {
      // Only the updateTime order: Firestore's automatic single-field index.
      expect(f.states ?? f.eeProject ?? f.label).toBeUndefined();
      return;
    }
    const declared = FIRESTORE_INDEXES.filter((ix) => ix.collection === 'jobs').map((ix) => JSON.stringify(ix.fields));
    expect(declared).toContain(JSON.stringify(need));
  });

  it('the label index does not depend on the key: one array field holds every key:value', () => {
    expect(listJobsIndex({ label: { key: 'team', value: 'x' } })).toEqual(listJobsIndex({ label: { key: 'other', value: 'y' } }));
    expect(labelPairs({ team: 'forest', run: '' })).toEqual(['team:forest', 'run:']);
    const job = newJob({ jobId: 'a'.repeat(32), state: 'QUEUED', eeProject: 'ee-project-1', request: null, requestId: 'r', identity: 'k', labels: { team: 'forest' }, callbackUrl: null, source: { kind: 'api' } }, '2026-01-01T00:00:00Z');
    expect(jobToDoc(job).labelPairs).toEqual(['team:forest']);
  });
});
