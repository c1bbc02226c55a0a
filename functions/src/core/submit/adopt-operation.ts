/**
 * Finding the task a job started when Earth Engine won't say which it is.
 *
 * Of several image:export calls with one requestId "only one may successfully start"
 * an operation; what the others get is undocumented. When a retry (after a lost
 * response) is answered 409 ALREADY_EXISTS without the operation, the job's task
 * exists but eeport does not know its name. This module looks for it in the project's
 * operation list, as docs/adr/0010-adopting-operations.md explains:
 *
 * - an EXPORT_IMAGE operation with the job's description (and priority, when the
 *   request set one), created no earlier than the job (less a clock-skew margin);
 * - followed by no other job, as its current or an earlier attempt;
 * - the only such operation, and seen as the only one by an earlier search at least
 *   `confirmAfterMs` before (eeport's clock only): another job that holds the answer
 *   for that task has recorded it by then, so a task about to be claimed is not taken.
 *
 * None, or several, or one not yet confirmed, and the job stays SUBMITTING with
 * `verifying` set (never FAILED: its task may exist) and is searched again later;
 * several candidates are listed on the job for a person to see.
 */
import type { Job } from '../jobs/index.ts';
import type { Operation } from '../jobs/index.ts';
import type { EarthEngine, JobStore } from '../ports.ts';

export interface AdoptSettings {
  /** Operations created this long before the job still count (clocks differ). */
  clockSkewMs: number;
  /** A lone candidate is taken once a search this much later still finds it alone and unclaimed (0: at once). */
  confirmAfterMs: number;
  /** Pages of operations.list read per search (500 operations a page). */
  maxPages: number;
}

export const DEFAULT_ADOPT_SETTINGS: AdoptSettings = { clockSkewMs: 5 * 60_000, confirmAfterMs: 60_000, maxPages: 20 };

export type AdoptResult = { kind: 'found'; operation: Operation } | { kind: 'unclear'; candidates: string[]; note: string };

const ms = (iso: string | undefined) => (iso ? Date.parse(iso) : NaN);

export async function findOwnOperation(deps: { ee: EarthEngine; store: JobStore }, job: Job, nowMs: number, settings: AdoptSettings = DEFAULT_ADOPT_SETTINGS): Promise<AdoptResult> {
  const notBefore = ms(job.createTime) - settings.clockSkewMs;
  const description = job.request?.description ?? '';
  const priority = job.request?.priority;
  const matches: Operation[] = [];
  let pageToken: string | undefined;
  for (let page = 0; page < settings.maxPages; page++) {
    // No `filter`: the official clients never send one, so its support is not something to lean on.
    const res = await deps.ee.listOperations(job.eeProject, { pageSize: 500, ...(pageToken ? { pageToken } : {}) });
    let older = 0;
    for (const op of res.operations) {
      const m = op.metadata;
      const created = ms(m?.createTime);
      if (!(created >= notBefore)) {
        older++;
        continue;
      }
      if (m?.type !== undefined && m.type !== 'EXPORT_IMAGE') continue;
      if ((m?.description ?? '') !== description) continue;
      if (priority !== undefined && m?.priority !== undefined && m.priority !== priority) continue;
      matches.push(op);
    }
    // The list's order is undocumented (newest first in practice): stop only when a whole page is older than the job.
    if (!res.nextPageToken || (res.operations.length > 0 && older === res.operations.length)) break;
    pageToken = res.nextPageToken;
  }
  const owners = matches.length ? await deps.store.ownersOfOperations(matches.map((o) => o.name)) : new Map<string, string>();
  const free = matches.filter((o) => {
    const owner = owners.get(o.name);
    return owner === undefined || owner === job.jobId;
  });
  if (free.length === 1) {
    const op = free[0]!;
    const seenAlone = job.verifying?.candidates.length === 1 && job.verifying.candidates[0] === op.name;
    const confirmed = settings.confirmAfterMs <= 0 || (seenAlone && nowMs - ms(job.verifying!.candidatesSince) >= settings.confirmAfterMs);
    if (confirmed) return { kind: 'found', operation: op };
    return {
      kind: 'unclear',
      candidates: [op.name],
      note: `one unclaimed export operation named "${description}" matches; taking it once a search ${Math.round(settings.confirmAfterMs / 1000)} s later still finds it alone`,
    };
  }
  if (free.length > 1) {
    return {
      kind: 'unclear',
      candidates: free.map((o) => o.name).slice(0, 20),
      note: `${free.length} unclaimed export operations named "${description}" were created since this job; eeport cannot tell which is its own and will not guess`,
    };
  }
  return {
    kind: 'unclear',
    candidates: [],
    note: `Earth Engine says the requestId ${job.requestId} was used, but no unclaimed export operation named "${description}" is listed yet; looking again`,
  };
}
