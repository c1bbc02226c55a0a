/**
 * Identity. A job's id is a hash of the strongest idempotency key available, so that
 * every delivery of the same logical request lands on the same document; the Earth
 * Engine requestId is fixed per job, so a retried image:export can never start a
 * second task.
 */
import { createHash } from 'node:crypto';

export type IdentityKey =
  | { kind: 'key'; key: string }
  | { kind: 'requestId'; eeProject: string; requestId: string }
  | { kind: 'message'; source: string; messageId: string }
  | { kind: 'upload'; bucket: string; name: string; generation: string }
  | { kind: 'random'; value: string };

export function identityString(id: IdentityKey): string {
  switch (id.kind) {
    case 'key':
      return `key:${id.key}`;
    case 'requestId':
      return `rid:${id.eeProject}:${id.requestId}`;
    case 'message':
      return `msg:${id.source}#${id.messageId}`;
    case 'upload':
      return `gcs:${id.bucket}/${id.name}#${id.generation}`;
    case 'random':
      return `rnd:${id.value}`;
  }
}

/** 32 hex characters (128 bits): safe as a Firestore document id and short in URLs. */
export function jobIdFor(id: IdentityKey): string {
  return createHash('sha256').update(identityString(id)).digest('hex').slice(0, 32);
}

export const REQUEST_ID_PATTERN = /^[A-Za-z0-9-]{1,60}$/;

/**
 * The requestId eeport sends when the client gave none: derived from jobId (and the
 * submission attempt, for deliberate resubmission of a failed task), [A-Za-z0-9-], ≤ 60.
 */
export function derivedRequestId(jobId: string, submission = 0): string {
  return submission === 0 ? `eeport-${jobId}` : `eeport-${jobId}-r${submission}`;
}

export const JOB_ID_PATTERN = /^[0-9a-f]{32}$/;
