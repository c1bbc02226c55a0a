/**
 * Earth Engine's long-running Operation, parsed at the boundary (the REST adapter runs
 * every response through OperationSchema) and mapped onto a job's fields here.
 */
import { z } from 'zod';
import type { Job, JobError, JobState, Stage } from './job.ts';

const StageSchema = z.object({
  displayName: z.string().optional(),
  description: z.string().optional(),
  completeWorkUnits: z.coerce.number().optional(),
  totalWorkUnits: z.coerce.number().optional(),
});

/** What an operation name must look like for eeport to follow it (get, cancel). */
export const OPERATION_NAME_PATTERN = /^projects\/[^/]+\/operations\/[^/]+$/;

export const OperationSchema = z.object({
  name: z.string().regex(OPERATION_NAME_PATTERN, 'operation name must look like projects/{p}/operations/{id}'),
  done: z.boolean().optional(),
  error: z
    .object({ code: z.number().int().optional(), message: z.string().optional(), details: z.array(z.unknown()).optional() })
    .optional(),
  response: z.record(z.string(), z.unknown()).optional(),
  metadata: z
    .object({
      '@type': z.string().optional(),
      state: z.string().optional(),
      description: z.string().optional(),
      type: z.string().optional(),
      priority: z.coerce.number().optional(),
      createTime: z.string().optional(),
      updateTime: z.string().optional(),
      startTime: z.string().optional(),
      endTime: z.string().optional(),
      progress: z.coerce.number().optional(),
      stages: z.array(StageSchema).optional(),
      attempt: z.coerce.number().optional(),
      scriptUri: z.string().optional(),
      destinationUris: z.array(z.string()).optional(),
      notifications: z.array(z.unknown()).optional(),
      batchEecuUsageSeconds: z.coerce.number().optional(),
    })
    .loose()
    .optional(),
});
export type Operation = z.infer<typeof OperationSchema>;

/** Earth Engine operation states, with the legacy task names the older API used. */
const STATE_MAP: Record<string, JobState> = {
  PENDING: 'PENDING',
  READY: 'PENDING',
  UNSUBMITTED: 'PENDING',
  RUNNING: 'RUNNING',
  CANCELLING: 'CANCELLING',
  CANCEL_REQUESTED: 'CANCELLING',
  SUCCEEDED: 'SUCCEEDED',
  COMPLETED: 'SUCCEEDED',
  FAILED: 'FAILED',
  CANCELLED: 'CANCELLED',
};

/** google.rpc.Code 1 is CANCELLED: a cancelled operation ends with it. */
const RPC_CANCELLED = 1;

export function jobStateOf(op: Operation): JobState {
  const s = op.metadata?.state ? STATE_MAP[op.metadata.state] : undefined;
  if (s) return s;
  // STATE_UNSPECIFIED or missing: fall back to done/error.
  if (op.done) return op.error ? (op.error.code === RPC_CANCELLED ? 'CANCELLED' : 'FAILED') : 'SUCCEEDED';
  return 'PENDING';
}

export function operationId(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1);
}

/** The job fields an operation determines; missing metadata leaves a field as it was. */
export function fieldsFromOperation(op: Operation, job: Job): Partial<Job> {
  const m = op.metadata ?? {};
  const state = jobStateOf(op);
  const stages: Stage[] | undefined = m.stages?.map((s) => ({
    displayName: s.displayName ?? '',
    ...(s.description !== undefined ? { description: s.description } : {}),
    ...(s.completeWorkUnits !== undefined ? { completeWorkUnits: s.completeWorkUnits } : {}),
    ...(s.totalWorkUnits !== undefined ? { totalWorkUnits: s.totalWorkUnits } : {}),
  }));
  let error: JobError | null = job.error;
  if (op.error && (state === 'FAILED' || state === 'CANCELLED')) {
    error = {
      code: state === 'CANCELLED' ? 'EE.CANCELLED' : 'EE.TASK_FAILED',
      message: op.error.message ?? (state === 'CANCELLED' ? 'Cancelled.' : 'Earth Engine reported the task failed without a message.'),
      ...(op.error.code !== undefined ? { status: op.error.code } : {}),
    };
  }
  return {
    operationName: op.name,
    progress: state === 'SUCCEEDED' ? 1 : (m.progress ?? job.progress),
    stages: stages ?? job.stages,
    attempt: m.attempt ?? job.attempt,
    eecuSeconds: m.batchEecuUsageSeconds ?? job.eecuSeconds,
    destinationUris: m.destinationUris ?? job.destinationUris,
    startTime: m.startTime ?? job.startTime,
    endTime: m.endTime ?? job.endTime,
    error,
  };
}
