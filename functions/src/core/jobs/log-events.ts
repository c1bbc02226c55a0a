/**
 * Every log line eeport writes, by name. Entries carry the job id and operation name
 * so Cloud Logging can filter on them; the sink (adapters/log-sink.cloud-logging.ts)
 * adds severity formatting and trace, and redacts secrets.
 */
import type { LogSink } from '../ports.ts';
import type { Job } from './job.ts';
import type { EeportError } from '../kernel/index.ts';

const jobFields = (job: Job) => ({ jobId: job.jobId, operationName: job.operationName, eeProject: job.eeProject, state: job.state });
const errFields = (err: unknown) =>
  err instanceof Error ? { error: { name: err.name, message: err.message, ...('code' in err ? { code: (err as EeportError).code } : {}) } } : { error: String(err) };

export function createLogEvents(sink: LogSink, trace?: string) {
  const t = trace ? { trace } : {};
  return {
    exportRejected: (job: Job) =>
      sink.write({ severity: 'WARNING', event: 'export.rejected', message: `Rejected message: ${job.error?.message ?? ''}`.slice(0, 500), ...jobFields(job), errors: job.error?.details?.slice(0, 20), ...t }),
    exportQueued: (job: Job) => sink.write({ severity: 'INFO', event: 'export.queued', message: `Job queued: ${job.queuedReason ?? ''}`, ...jobFields(job), ...t }),
    exportSubmitted: (job: Job) => sink.write({ severity: 'INFO', event: 'export.submitted', message: `Export started as ${job.operationName}`, ...jobFields(job), requestId: job.requestId, ...t }),
    exportDuplicate: (job: Job) => sink.write({ severity: 'INFO', event: 'export.duplicate', message: `Duplicate delivery for a job in ${job.state}; nothing to do`, ...jobFields(job), ...t }),
    exportSubmitFailed: (job: Job) => sink.write({ severity: 'ERROR', event: 'export.submit_failed', message: `Earth Engine refused the export: ${job.error?.message ?? ''}`, ...jobFields(job), ...t }),
    exportSubmitRetry: (job: Job, err: unknown) =>
      sink.write({ severity: 'WARNING', event: 'export.submit_retry', message: 'Transient error calling Earth Engine; the message will be redelivered', ...jobFields(job), attempts: job.submitAttempts, ...errFields(err), ...t }),
    exportAdopted: (job: Job, operationName: string) =>
      sink.write({ severity: 'NOTICE', event: 'export.adopted', message: `Earth Engine said the requestId was already used; the job follows ${operationName}, found in the operation list`, ...jobFields(job), requestId: job.requestId, ...t }),
    exportVerifying: (job: Job) =>
      sink.write({ severity: 'WARNING', event: 'export.verifying', message: `The job's task exists but is not identified yet: ${job.verifying?.note ?? ''}`, ...jobFields(job), requestId: job.requestId, candidates: job.verifying?.candidates, checks: job.verifying?.checks, ...t }),
    exportSubmitBusy: (jobId: string) => sink.write({ severity: 'INFO', event: 'export.submit_busy', message: 'Another delivery is submitting this job; retry later', jobId, ...t }),
    jobTransition: (job: Job, from: string) =>
      sink.write({ severity: job.state === 'FAILED' ? 'ERROR' : 'INFO', event: 'job.transition', message: `${from} → ${job.state}`, ...jobFields(job), progress: job.progress, ...t }),
    eventsRelayFailed: (count: number, err: unknown) =>
      sink.write({ severity: 'WARNING', event: 'events.relay_failed', message: `Could not publish ${count} event(s); the outbox sweep will retry`, ...errFields(err), ...t }),
    eventsRelayed: (count: number) => sink.write({ severity: 'DEBUG', event: 'events.relayed', message: `Published ${count} event(s)`, ...t }),
    pollCycle: (stats: Record<string, number>) => sink.write({ severity: 'INFO', event: 'poll.cycle', message: 'Poll cycle done', ...stats, ...t }),
    pollFailed: (err: unknown) => sink.write({ severity: 'ERROR', event: 'poll.failed', message: 'Poll cycle failed', ...errFields(err), ...t }),
    pollLeaseBusy: (holder: string) => sink.write({ severity: 'INFO', event: 'poll.lease_busy', message: `Another poller (${holder}) holds the lease`, ...t }),
    webhookAttempt: (d: { eventId: string; jobId: string; url: string; state: string; attempts: number; lastError: string | null }, status: number | null, latencyMs: number | null) =>
      sink.write({
        severity: d.state === 'delivered' ? 'INFO' : d.state === 'failed' ? 'ERROR' : 'WARNING',
        event: `webhook.${d.state}`,
        message: `Webhook ${d.state} (attempt ${d.attempts}, status ${status ?? '-'})${d.lastError ? `: ${d.lastError}` : ''}`,
        jobId: d.jobId,
        eventId: d.eventId,
        // Only the origin: paths and queries of callback URLs often carry tokens.
        callbackOrigin: URL.canParse(d.url) ? new URL(d.url).origin : 'invalid',
        status,
        latencyMs,
        ...t,
      }),
    cancelUnresolvable: (messageId: string, why: string) =>
      sink.write({ severity: 'WARNING', event: 'cancel.unresolvable', message: `Cancel message ${messageId} ignored: ${why}`, messageId, ...t }),
    unexpected: (where: string, err: unknown) => sink.write({ severity: 'ERROR', event: 'unexpected', message: `Unexpected error in ${where}`, ...errFields(err), ...t }),
  };
}

export type LogEvents = ReturnType<typeof createLogEvents>;
