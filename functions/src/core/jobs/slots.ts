/**
 * Admission: the in-flight slots of an Earth Engine project are its jobs in SUBMITTING,
 * PENDING, RUNNING and CANCELLING (ADR 0012). There is no counter document: a submit
 * counts the project's live jobs (an aggregation query, outside any transaction) and
 * creates its job in SUBMITTING when the count is below the cap, in QUEUED otherwise; a
 * job gives its slot back by leaving those states. Nothing every submit must lock.
 *
 * The price is a soft cap. Submits that count at the same moment all see the same room,
 * so the project can overshoot by at most the number of admissions deciding at once
 * minus one ({@link overshootBound}); the poller releases nothing while the project is
 * over, so the overshoot drains as those jobs finish. The poller counts once per
 * {@link RELEASES_PER_COUNT} releases (adding its own in between), so it stands for that
 * many admissions deciding at once. Submits one after another, with the poller idle,
 * never exceed the cap.
 */
import type { Job, JobState } from './job.ts';
import { slotDelta } from './transitions.ts';

/**
 * Releases the poller makes from one count of a project (its own releases added in
 * between). A count per release is one more aggregation query each; five keeps a
 * release burst cheap and the overshoot small.
 */
export const RELEASES_PER_COUNT = 5;

/** Whether a project with `inFlight` live jobs may take one more under `cap`. */
export const hasRoom = (inFlight: number, cap: number) => inFlight < cap;

/**
 * The most jobs a project can hold in flight when `deciding` admissions (submit
 * deliveries handled at once, plus RELEASES_PER_COUNT for the poller) count at the same
 * moment: each sees at most cap − 1 and adds one.
 */
export const overshootBound = (cap: number, deciding: number) => cap + Math.max(0, deciding - 1);

/**
 * Whether `job` gives its slot back when it moves to `to`; the caller then clears
 * `job.slotShard` (a field of the counter design, null on jobs admitted since). There is
 * no counter to write: the new state is what frees the slot.
 */
export const freesSlot = (job: Pick<Job, 'state'>, to: JobState): boolean => slotDelta(job.state, to) < 0;

/**
 * The margin below the cap within which a remembered count may stand in for a new one
 * ({@link createAdmissionGate}): a tenth of the cap, at least 50 jobs. The admissions other
 * instances (and the poller) make while a count is remembered, unseen by it, overshoot
 * the cap only when there are more of them than this. Small caps (≤ 50) count every time.
 */
export const rememberedCountMargin = (cap: number) => Math.max(50, Math.ceil(cap / 10));

export interface AdmissionGate {
  /** Whether one more job may go in flight in `eeProject`; a yes counts as one more in flight here. */
  admit(eeProject: string): Promise<boolean>;
}

/**
 * Submit's admission, per instance. Counting costs an aggregation query (a scan of the
 * project's live jobs on the emulator; in production billed one read per 1,000 jobs) on
 * every submit. A project far below its cap does not need a fresh count for each job: a
 * count younger than `maxAgeMs`, plus the admissions this instance granted since, leaves
 * room for more while it stays a margin below the cap. Near the cap every submit counts
 * again (admissions of this instance deciding at once share one count and take turns from
 * it), so the bound there is at most {@link overshootBound}'s; far from it, only more
 * than the margin of admissions by other instances within `maxAgeMs` could push past
 * the cap (ADR 0012). `maxAgeMs` 0: count every time.
 */
export function createAdmissionGate(opts: { count: (eeProject: string) => Promise<number>; now: () => number; cap: number; maxAgeMs: number }): AdmissionGate {
  const { count, now, cap, maxAgeMs } = opts;
  const margin = rememberedCountMargin(cap);
  /** Per project: when it was counted, and the count plus the admissions granted from it since. */
  const remembered = new Map<string, { at: number; inFlight: number }>();
  /** Per project: the count under way, which admissions deciding meanwhile share instead of each starting one. */
  const counting = new Map<string, Promise<void>>();
  const grant = (eeProject: string): boolean => {
    const r = remembered.get(eeProject)!;
    if (!hasRoom(r.inFlight, cap)) return false;
    r.inFlight++;
    return true;
  };
  return {
    async admit(eeProject) {
      if (maxAgeMs <= 0) return hasRoom(await count(eeProject), cap);
      const r = remembered.get(eeProject);
      const t = now();
      if (r && t - r.at <= maxAgeMs && t >= r.at && r.inFlight + margin < cap) return grant(eeProject);
      // Stale, or near the cap: count again. Admissions of this instance deciding meanwhile wait
      // for the same count and take their turns from it, so they cannot overshoot one another.
      let c = counting.get(eeProject);
      if (!c) {
        // Dated from before the query: what other instances admit while it runs is unseen too.
        c = count(eeProject)
          .then((inFlight) => void remembered.set(eeProject, { at: t, inFlight }))
          .finally(() => counting.delete(eeProject));
        counting.set(eeProject, c);
      }
      await c;
      return grant(eeProject);
    },
  };
}
