/**
 * Upload → export: a finalized Cloud Storage object that an upload rule claims becomes
 * one job, through the same intake and submit as a message on the requests topic.
 *
 * - No rule matches: logged (upload.ignored) and acknowledged; most objects in a
 *   watched bucket are none of eeport's business.
 * - The rule builds an invalid request: a REJECTED job with the reasons, as in submit.
 * - The identity is the object generation, so a redelivered event finds the same job
 *   and an overwrite (a new generation) is a new job.
 * - An event that names no object cannot be routed or keyed to a job: it is logged at
 *   ERROR (upload.malformed_event) and acknowledged, since redelivery cannot fix it.
 *
 * Transient faults are thrown by submit, so the trigger redelivers.
 */
import { intakeBody, type IntakePolicy, type SubmitExport, type SubmitOutcome } from '../submit/index.ts';
import { jobIdFor, tenantIdentity, type IdentityKey, type JobSource } from '../jobs/index.ts';
import { buildUploadRequest, type StorageObject, type UploadRouter } from './upload-rules.ts';
import type { UnusableEvent, UploadLogEvents } from './upload-log-events.ts';

export type ObjectEvent = { kind: 'finalized'; object: StorageObject } | ({ kind: 'unusable' } & UnusableEvent);

export interface SubmitUploadDeps {
  submit: Pick<SubmitExport, 'submitCommand' | 'recordRejection'>;
  logs: UploadLogEvents;
  router: UploadRouter;
  intake: IntakePolicy;
  /** The intake of a rule naming a tenant (TENANTS); the configuration already checked the tenant exists. */
  intakeFor?: (tenantId: string) => IntakePolicy | null;
}

export type UploadOutcome = SubmitOutcome | { kind: 'ignored' } | { kind: 'unusable' };

const PREVIEW_CHARS = 2048;

export function createSubmitUpload(deps: SubmitUploadDeps) {
  return async function onObjectFinalized(ev: ObjectEvent): Promise<UploadOutcome> {
    if (ev.kind === 'unusable') {
      deps.logs.uploadUnusableEvent(ev);
      return { kind: 'unusable' };
    }
    const obj = ev.object;
    const rule = deps.router.match(obj);
    if (!rule) {
      deps.logs.uploadIgnored(obj);
      return { kind: 'ignored' };
    }
    const identity: IdentityKey = { kind: 'upload', bucket: obj.bucket, name: obj.name, generation: obj.generation };
    const source: JobSource = { kind: 'upload', bucket: obj.bucket, name: obj.name, generation: obj.generation };
    const request = buildUploadRequest(rule, obj);
    const options = {
      ...(rule.eeProject ? { eeProject: rule.eeProject } : {}),
      ...(rule.labels ? { labels: rule.labels } : {}),
      ...(rule.callbackUrl ? { callbackUrl: rule.callbackUrl } : {}),
    };
    // Rules can set neither requestId nor idempotencyKey, so the upload identity is the one intake picks.
    const preview = JSON.stringify({ rule: rule.name, object: obj, request }).slice(0, PREVIEW_CHARS);
    const policy = rule.tenant === undefined ? deps.intake : deps.intakeFor?.(rule.tenant);
    if (!policy) throw new Error(`upload rule ${rule.name} names tenant "${rule.tenant}", which is not configured`);
    const intake = intakeBody(request, options, [], policy, source, identity, preview);
    deps.logs.uploadMatched(obj, rule.name, jobIdFor(tenantIdentity(policy.tenantId ?? null, identity)));
    return intake.ok ? deps.submit.submitCommand(intake.command) : deps.submit.recordRejection(intake);
  };
}

export type SubmitUpload = ReturnType<typeof createSubmitUpload>;
