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
  | { kind: 'random'; value: string }
  /** A chain's step (core/chains): the chain (its root's id, already the tenant's) and the step's name. */
  | { kind: 'chain'; chainId: string; step: string }
  /** Any of the above, inside one tenant: the same key in two tenants is two jobs. */
  | { kind: 'tenant'; tenantId: string; of: IdentityKey };

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
    case 'chain':
      return `chain:${id.chainId}/${id.step}`;
    case 'tenant':
      return `tenant:${id.tenantId}/${identityString(id.of)}`;
  }
}

/** An identity namespaced by its tenant; untenanted identities (no TENANTS) stay as they were, and so do their job ids. */
export function tenantIdentity(tenantId: string | null, id: IdentityKey): IdentityKey {
  return tenantId === null ? id : { kind: 'tenant', tenantId, of: id };
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

/**
 * The requestId eeport sends for a client's requestId. Earth Engine deduplicates per
 * caller, and every tenant's exports are eeport's calls: two tenants' "nightly-1" would
 * be one task. A tenant's requestId is therefore sent as a hash of tenant and id (the
 * client's own stays in the job's request); untenanted ones are sent as they are.
 */
export function sentRequestId(tenantId: string | null, clientRequestId: string): string {
  if (tenantId === null) return clientRequestId;
  return `eeport-t-${createHash('sha256').update(`${tenantId}\n${clientRequestId}`).digest('hex').slice(0, 40)}`;
}
