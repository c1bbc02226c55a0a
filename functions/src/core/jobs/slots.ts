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
