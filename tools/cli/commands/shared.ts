/**
 * Helpers the job and batch commands share: flags → submit options, ids, state and
 * label filters.
 */
import { JOB_ID_PATTERN, JOB_STATES } from '../../../functions/src/core/jobs/index.ts';
import { usageError } from '../errors.ts';
import { parseLabelFlags, type SubmitFlags } from '../input.ts';

/** The flags of submit and batch submit that shape the submission. */
export interface SubmitFlagOptions {
  project?: string;
  label?: string[];
  callback?: string;
  idempotencyKey?: string;
}

export const flagsOf = (o: SubmitFlagOptions): SubmitFlags => ({
  ...(o.project !== undefined ? { project: o.project } : {}),
  ...(o.label?.length ? { labels: parseLabelFlags(o.label)! } : {}),
  ...(o.callback !== undefined ? { callback: o.callback } : {}),
  ...(o.idempotencyKey !== undefined ? { idempotencyKey: o.idempotencyKey } : {}),
});

export function checkJobId(id: string): string {
  if (!JOB_ID_PATTERN.test(id)) throw usageError(`"${id.slice(0, 80)}" is not a job id: job ids are 32 lowercase hexadecimal characters (eeport list shows them)`);
  return id;
}

/** `--state` values: repeatable, comma lists, any case; checked against the job states. */
export function parseStates(values: readonly string[] | undefined, known: readonly string[] = JOB_STATES): string[] {
  const states = [...new Set((values ?? []).flatMap((v) => v.split(',')).map((s) => s.trim().toUpperCase()).filter(Boolean))];
  const bad = states.filter((s) => !known.includes(s));
  if (bad.length) throw usageError(`unknown state ${bad.join(', ')}; one of ${known.join(', ')}`);
  return states;
}

/** `--label key=value` (or key:value) → the API's `key:value`. */
export function labelFilter(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const m = /^([^=:]+)[=:](.*)$/.exec(v);
  if (!m) throw usageError(`--label must be key=value, e.g. --label team=forest (got "${v}")`);
  return `${m[1]}:${m[2]}`;
}
