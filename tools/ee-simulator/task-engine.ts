/**
 * The batch task engine: per-project queues ordered by priority then submit time, a
 * per-project concurrency limit, the queue cap, and the PENDING → RUNNING → terminal
 * lifecycle, all driven by discrete events on the simulated clock.
 */
import { randomBytes } from 'node:crypto';
import type { SimClock } from './clock.ts';
import { ApiError, RPC_CODE } from './errors.ts';
import type { FaultRegistry } from './faults.ts';
import { MinHeap } from './min-heap.ts';
import { type PlannedStage, type StageSpec, type Task, type TaskState, destinationUris, isDone, planStages, progressAt } from './task.ts';
import { forEachInvocation } from './validate-expression.ts';
import type { ExportImageRequest } from './validate-export.ts';
import { taskEecu, type EecuModel } from './eecu-model.ts';

export interface TaskEngineOptions {
  maxConcurrentPerProject: number;
  queueCap: number;
  taskDurationMs: number | ((request: ExportImageRequest, project: string) => number);
  stages: readonly StageSpec[];
  pendingDelayMs: number;
  cancelDelayMs: number;
  maxAttempts: number;
  retentionMs: number;
  duplicateRequestId: 'return-existing' | 'error';
  queueFullStatus: number;
  cancelTerminal: 'error' | 'ignore';
  eecuModel: 'time' | 'work';
  eecuWork: EecuModel;
  eecuWhileRunning: boolean;
}

interface ProjectState {
  tasks: Map<string, Task>;
  /** Every task in creation order (deleted ones are removed); lists walk it backwards. */
  order: Task[];
  ready: MinHeap<Task>;
  pending: number;
  active: number;
}

const readyOrder = (a: Task, b: Task): boolean =>
  a.request.priority !== b.request.priority ? a.request.priority > b.request.priority : a.createTime !== b.createTime ? a.createTime < b.createTime : a.seq < b.seq;

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

export class TaskEngine {
  readonly plan: PlannedStage[];
  private readonly projects = new Map<string, ProjectState>();
  /** Tasks by caller and requestId: the service scopes a requestId to the user, not the project. */
  private readonly byCallerRequestId = new Map<string, Task>();
  private readonly ids = new Set<string>();
  private readonly doneListeners = new Map<Task, Set<() => void>>();
  private seq = 0;
  /** Called when a task is created / first dispatched (for stats). */
  onCreated: () => void = () => {};
  onDispatched: () => void = () => {};

  constructor(
    private readonly clock: SimClock,
    private readonly opts: TaskEngineOptions,
    private readonly faults: FaultRegistry,
  ) {
    this.plan = planStages(opts.stages);
  }

  /**
   * Creates a task for a validated request, or returns the existing one for a repeated
   * requestId. Synchronous from the dedupe check to the insert, so concurrent duplicate
   * posts can never create two tasks.
   */
  submit(project: string, request: ExportImageRequest, caller = 'anonymous'): { task: Task; created: boolean } {
    const p = this.project(project);
    const dedupeKey = request.requestId ? `${caller}\u0000${request.requestId}` : undefined;
    if (dedupeKey) {
      const existing = this.byCallerRequestId.get(dedupeKey);
      if (existing) {
        // Undocumented: "only one of those requests may successfully start" an operation.
        // 'error' (the default, the harsher reading) answers 409 without naming the task.
        if (this.opts.duplicateRequestId === 'error') {
          throw new ApiError('ALREADY_EXISTS', `Request ID '${request.requestId}' has already been used.`);
        }
        return { task: existing, created: false };
      }
    }
    if (p.pending >= this.opts.queueCap) {
      // The message is what the service says; its HTTP status is undocumented (429 in public scripts).
      throw new ApiError('RESOURCE_EXHAUSTED', `Too many tasks already in the queue (${this.opts.queueCap}). Please wait for some of them to complete.`, {
        httpCode: this.opts.queueFullStatus,
      });
    }
    const now = this.clock.now();
    const id = this.newId();
    const duration = typeof this.opts.taskDurationMs === 'function' ? this.opts.taskDurationMs(request, project) : this.opts.taskDurationMs;
    const task: Task = {
      id,
      name: `projects/${project}/operations/${id}`,
      project,
      seq: this.seq++,
      request,
      state: 'PENDING',
      createTime: now,
      updateTime: now,
      readyTime: now + this.opts.pendingDelayMs,
      attempt: 0,
      priorRunMs: 0,
      durationMs: Math.max(1, Math.round(duration)),
      ...(this.opts.eecuModel === 'work' ? { workEecu: taskEecu(request, `${request.requestId ?? request.description}#${this.seq}`, this.opts.eecuWork) } : {}),
      ...(this.opts.eecuWhileRunning ? {} : { eecuHiddenWhileRunning: true }),
      deleted: false,
      ...(dedupeKey ? { dedupeKey } : {}),
    };
    const hold = this.attachFaults(task);
    task.readyTime += hold;
    p.tasks.set(id, task);
    p.order.push(task);
    if (dedupeKey) this.byCallerRequestId.set(dedupeKey, task);
    p.pending += 1;
    this.onCreated();
    if (task.readyTime <= now) {
      p.ready.push(task);
      this.pump(p);
    } else if (Number.isFinite(task.readyTime)) {
      task.timer = this.clock.schedule(task.readyTime, () => {
        task.timer = undefined;
        if (task.state !== 'PENDING') return;
        p.ready.push(task);
        this.pump(p);
      });
    }
    return { task, created: true };
  }

  /** A task visible through the API, or undefined (unknown, deleted or expired). */
  get(project: string, id: string): Task | undefined {
    const t = this.projects.get(project)?.tasks.get(id);
    return t && !t.deleted ? t : undefined;
  }

  /** Visible tasks of a project, newest first. */
  list(project: string): Task[] {
    const p = this.projects.get(project);
    if (!p) return [];
    const out: Task[] = [];
    for (let i = p.order.length - 1; i >= 0; i--) {
      const t = p.order[i] as Task;
      if (!t.deleted) out.push(t);
    }
    return out;
  }

  /** Every task including deleted ones, oldest first, for snapshots. */
  all(project?: string): Task[] {
    const ps = project === undefined ? [...this.projects.values()] : [this.projects.get(project)].filter((p): p is ProjectState => !!p);
    return ps.flatMap((p) => [...p.tasks.values()]).sort((a, b) => a.seq - b.seq);
  }

  cancel(task: Task): void {
    const now = this.clock.now();
    switch (task.state) {
      case 'PENDING': {
        const p = this.project(task.project);
        p.pending -= 1;
        task.timer?.cancel();
        this.finish(task, now, 'CANCELLED', { code: RPC_CODE.CANCELLED, message: 'Cancelled.' });
        return;
      }
      case 'RUNNING':
        task.frozenProgress = progressAt(task, now);
        task.frozenAt = now;
        task.state = 'CANCELLING';
        task.updateTime = now;
        task.timer?.cancel();
        task.timer = this.clock.schedule(now + this.opts.cancelDelayMs, (at) => {
          this.project(task.project).active -= 1;
          this.finish(task, at, 'CANCELLED', { code: RPC_CODE.CANCELLED, message: 'Cancelled.' });
          this.pump(this.project(task.project));
        });
        return;
      case 'CANCELLING':
        return;
      default:
        if (this.opts.cancelTerminal === 'error') {
          throw new ApiError('FAILED_PRECONDITION', `Operation ${task.name} has already finished (state ${task.state}) and cannot be cancelled.`);
        }
    }
  }

  /** Hides the record (DELETE); a running task keeps running and holding its slot. */
  delete(task: Task): void {
    task.deleted = true;
    const p = this.project(task.project);
    p.order = p.order.filter((t) => t !== task);
    this.forgetRequestId(task);
    if (isDone(task)) p.tasks.delete(task.id);
  }

  /** Calls `fn` once when the task reaches a terminal state; returns an unsubscribe. */
  onDone(task: Task, fn: () => void): () => void {
    let set = this.doneListeners.get(task);
    if (!set) this.doneListeners.set(task, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  countsByState(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const p of this.projects.values()) for (const t of p.tasks.values()) out[t.state] = (out[t.state] ?? 0) + 1;
    return out;
  }

  reset(): void {
    for (const p of this.projects.values()) for (const t of p.tasks.values()) t.timer?.cancel();
    this.projects.clear();
    this.ids.clear();
    for (const set of this.doneListeners.values()) for (const fn of [...set]) fn();
    this.doneListeners.clear();
  }

  private project(name: string): ProjectState {
    let p = this.projects.get(name);
    if (!p) {
      p = { tasks: new Map(), order: [], ready: new MinHeap(readyOrder), pending: 0, active: 0 };
      this.projects.set(name, p);
    }
    return p;
  }

  // Real operation ids are 24 uppercase alphanumerics, unrelated to the requestId.
  private newId(): string {
    for (;;) {
      const bytes = randomBytes(24);
      let id = '';
      for (const b of bytes) id += ID_ALPHABET[b % ID_ALPHABET.length];
      if (!this.ids.has(id)) {
        this.ids.add(id);
        return id;
      }
    }
  }

  /** Attaches the task faults; returns how long a hold-pending fault keeps the task PENDING (0: none). */
  private attachFaults(task: Task): number {
    const f = this.faults.forTask({ project: task.project, description: task.request.description, requestId: task.request.requestId });
    if (f.failure) {
      let at = f.failure.atProgress;
      if (at === undefined && f.failure.atStage !== undefined) {
        const wanted = f.failure.atStage;
        const stage = typeof wanted === 'number' ? this.plan[wanted] : this.plan.find((s) => s.displayName === wanted);
        if (stage) at = (stage.from + stage.to) / 2;
      }
      task.failure = { atProgress: at ?? 0.5, code: f.failure.code, message: f.failure.message };
    }
    if (f.retries) task.retries = { remaining: f.retries.count, atProgress: f.retries.atProgress };
    return f.holdPendingMs ?? 0;
  }

  private pump(p: ProjectState): void {
    while (p.active < this.opts.maxConcurrentPerProject && p.ready.size > 0) {
      const task = p.ready.pop() as Task;
      if (task.state !== 'PENDING') continue;
      this.start(p, task, this.clock.now());
    }
  }

  private start(p: ProjectState, task: Task, at: number): void {
    p.pending -= 1;
    p.active += 1;
    task.state = 'RUNNING';
    task.startTime = at;
    task.attemptStart = at;
    task.attempt = 1;
    task.updateTime = at;
    this.onDispatched();
    const pixels = requestedPixels(task.request);
    if (pixels !== undefined && pixels > task.request.maxPixels) {
      // The service only discovers the size once the task runs.
      this.failRunning(task, at, RPC_CODE.INVALID_ARGUMENT, `Export too large: specified ${pixels} pixels (max: ${task.request.maxPixels}). Specify higher maxPixels value if you intend to export a large area.`);
      return;
    }
    this.scheduleNext(task);
  }

  private scheduleNext(task: Task): void {
    const start = task.attemptStart as number;
    const at = (fraction: number): number => start + Math.round(fraction * task.durationMs);
    type Next = { when: number; run: (t: number) => void };
    const candidates: Next[] = [{ when: at(1), run: (t) => this.succeed(task, t) }];
    if (task.retries && task.retries.remaining > 0) candidates.push({ when: at(task.retries.atProgress), run: (t) => this.retry(task, t) });
    if (task.failure) {
      const { code, message } = task.failure;
      candidates.push({ when: at(task.failure.atProgress), run: (t) => this.failRunning(task, t, code, message) });
    }
    // Ties go to the fault: a failure "at 100%" must still fail.
    const next = candidates.reduce((a, b) => (b.when <= a.when ? b : a));
    task.timer = this.clock.schedule(next.when, (t) => {
      task.timer = undefined;
      if (task.state === 'RUNNING') next.run(t);
    });
  }

  private retry(task: Task, at: number): void {
    const retries = task.retries as { remaining: number; atProgress: number };
    retries.remaining -= 1;
    if (task.attempt >= this.opts.maxAttempts) {
      this.failRunning(task, at, RPC_CODE.INTERNAL, `Task failed after ${task.attempt} attempts: an internal error has occurred.`);
      return;
    }
    task.priorRunMs += at - (task.attemptStart as number);
    task.attempt += 1;
    task.attemptStart = at;
    task.updateTime = at;
    this.scheduleNext(task);
  }

  private succeed(task: Task, at: number): void {
    task.destinationUris = destinationUris(task.request);
    this.project(task.project).active -= 1;
    this.finish(task, at, 'SUCCEEDED');
    this.pump(this.project(task.project));
  }

  private failRunning(task: Task, at: number, code: number, message: string): void {
    task.frozenProgress = progressAt(task, at);
    task.frozenAt = at;
    this.project(task.project).active -= 1;
    this.finish(task, at, 'FAILED', { code, message });
    this.pump(this.project(task.project));
  }

  private finish(task: Task, at: number, state: TaskState, error?: { code: number; message: string }): void {
    task.state = state;
    task.endTime = at;
    task.updateTime = at;
    task.timer = undefined;
    if (error) task.error = { code: error.code, message: error.message, details: [] };
    const listeners = this.doneListeners.get(task);
    this.doneListeners.delete(task);
    if (listeners) for (const fn of listeners) fn();
    // Finished records expire like the service's (tasks are kept for a limited time).
    if (Number.isFinite(this.opts.retentionMs)) {
      this.clock.schedule(at + this.opts.retentionMs, () => this.expire(task));
    }
  }

  /** A deleted or expired task no longer blocks its requestId. */
  private forgetRequestId(task: Task): void {
    if (task.dedupeKey && this.byCallerRequestId.get(task.dedupeKey) === task) this.byCallerRequestId.delete(task.dedupeKey);
  }

  private expire(task: Task): void {
    const p = this.projects.get(task.project);
    if (!p || p.tasks.get(task.id) !== task) return;
    p.tasks.delete(task.id);
    p.order = p.order.filter((t) => t !== task);
    this.forgetRequestId(task);
  }
}

/**
 * Pixels the export will write, when the request pins them: a grid's dimensions, or
 * an Image.clipToBoundsAndScale with constant width and height (what clients emit for
 * `dimensions: "WxH"`).
 */
export function requestedPixels(request: ExportImageRequest): number | undefined {
  if (request.grid?.width !== undefined && request.grid.height !== undefined) return request.grid.width * request.grid.height;
  const values = request.expression.values;
  // Clients share repeated constants through valueReference (the JS client does for "WxH").
  const constantNumber = (node: unknown, hops = 0): number | undefined => {
    if (typeof node !== 'object' || node === null || hops > 100) return undefined;
    const n = node as Record<string, unknown>;
    if (typeof n['valueReference'] === 'string') return constantNumber(values[n['valueReference']], hops + 1);
    const v = n['constantValue'] ?? n['integerValue'];
    const num = typeof v === 'string' ? Number(v) : v;
    return typeof num === 'number' && Number.isFinite(num) ? num : undefined;
  };
  let found: number | undefined;
  forEachInvocation(request.expression, (name, args) => {
    if (name !== 'Image.clipToBoundsAndScale') return;
    const w = constantNumber(args['width']);
    const h = constantNumber(args['height']);
    if (w !== undefined && h !== undefined) found = Math.max(found ?? 0, w * h);
  });
  return found;
}
