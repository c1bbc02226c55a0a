/**
 * Renders a task as the google.longrunning.Operation the REST API returns. Fields appear
 * only once they have a value, like the service (early in a run most are missing).
 */
import type { RpcStatus } from './errors.ts';
import { type PlannedStage, type Task, isDone, progressAt, runMsAt, stagesAt, updateTimeAt } from './task.ts';
import type { ApiVersion } from './validate-export.ts';

export interface OperationMetadata {
  '@type': string;
  state: string;
  description: string;
  type: 'EXPORT_IMAGE';
  priority: number;
  createTime: string;
  updateTime: string;
  startTime?: string;
  endTime?: string;
  progress?: number;
  stages?: Array<{ displayName: string; description: string; completeWorkUnits: number; totalWorkUnits: number }>;
  attempt?: number;
  destinationUris?: string[];
  batchEecuUsageSeconds?: number;
}

export interface Operation {
  name: string;
  done: boolean;
  metadata: OperationMetadata;
  error?: RpcStatus;
  response?: { '@type': string };
}

export const metadataType = (version: ApiVersion): string => `type.googleapis.com/google.earthengine.${version}.OperationMetadata`;

const iso = (ms: number): string => new Date(ms).toISOString();

export function renderOperation(task: Task, now: number, version: ApiVersion, plan: readonly PlannedStage[], eecuPerSecond: number): Operation {
  const metadata: OperationMetadata = {
    '@type': metadataType(version),
    state: task.state,
    description: task.request.description,
    type: 'EXPORT_IMAGE',
    priority: task.request.priority,
    createTime: iso(task.createTime),
    updateTime: iso(updateTimeAt(task, now, plan)),
  };
  if (task.startTime !== undefined) {
    metadata.startTime = iso(task.startTime);
    if (task.endTime !== undefined) metadata.endTime = iso(task.endTime);
    metadata.progress = roundTo(progressAt(task, now), 4);
    metadata.stages = stagesAt(task, now, plan);
    metadata.attempt = task.attempt;
    if (task.destinationUris) metadata.destinationUris = task.destinationUris;
    const runMs = runMsAt(task, now);
    const eecu = task.workEecu !== undefined ? (task.workEecu * runMs) / task.durationMs : (runMs / 1000) * eecuPerSecond;
    if (eecu > 0 && !(task.eecuHiddenWhileRunning && !isDone(task))) metadata.batchEecuUsageSeconds = roundTo(eecu, 3);
  } else if (task.endTime !== undefined) {
    metadata.endTime = iso(task.endTime);
  }
  const op: Operation = { name: task.name, done: isDone(task), metadata };
  if (task.error) op.error = { code: task.error.code, message: task.error.message, details: task.error.details ?? [] };
  if (task.state === 'SUCCEEDED') op.response = { '@type': 'type.googleapis.com/google.protobuf.Empty' };
  return op;
}

function roundTo(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** One task as `sim.tasks()` and `GET /_sim/tasks` report it: the Operation plus simulator-side facts. */
export interface TaskSnapshot {
  id: string;
  name: string;
  project: string;
  requestId?: string;
  state: string;
  done: boolean;
  priority: number;
  description: string;
  attempt: number;
  /** Hidden from the API by DELETE (it may still be running). */
  deleted: boolean;
  /** Simulated duration of one attempt, ms. */
  durationMs: number;
  /** The request body as posted. */
  request: Record<string, unknown>;
  /** The Operation as `GET …/operations/{id}` on v1 would return it now. */
  operation: Operation;
}

export function snapshotTask(task: Task, now: number, plan: readonly PlannedStage[], eecuPerSecond: number): TaskSnapshot {
  return {
    id: task.id,
    name: task.name,
    project: task.project,
    requestId: task.request.requestId,
    state: task.state,
    done: isDone(task),
    priority: task.request.priority,
    description: task.request.description,
    attempt: task.attempt,
    deleted: task.deleted,
    durationMs: task.durationMs,
    request: task.request.body,
    operation: renderOperation(task, now, 'v1', plan, eecuPerSecond),
  };
}
