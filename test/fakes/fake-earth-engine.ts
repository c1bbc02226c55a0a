/**
 * A scriptable EarthEngine port for unit tests: remembers requestIds like the service
 * (same requestId → same operation), and fails on demand.
 */
import { EarthEngineError } from '../../functions/src/core/kernel/errors.ts';
import type { EarthEngine } from '../../functions/src/core/ports.ts';
import type { Operation } from '../../functions/src/core/jobs/operation.ts';

export class FakeEarthEngine implements EarthEngine {
  calls: { method: string; arg: string }[] = [];
  operations = new Map<string, Operation>();
  byRequestId = new Map<string, string>();
  /** Errors thrown by the next calls, in order. */
  failures: EarthEngineError[] = [];
  private seq = 0;

  async exportImage(eeProject: string, request: { requestId?: string; description?: string }): Promise<Operation> {
    this.calls.push({ method: 'export', arg: request.requestId ?? '' });
    const f = this.failures.shift();
    if (f) throw f;
    const known = request.requestId && this.byRequestId.get(`${eeProject}/${request.requestId}`);
    if (known) return structuredClone(this.operations.get(known)!);
    const name = `projects/${eeProject}/operations/OP${String(++this.seq).padStart(4, '0')}`;
    const op: Operation = { name, done: false, metadata: { state: 'PENDING', description: request.description ?? '', createTime: new Date(0).toISOString() } };
    this.operations.set(name, op);
    if (request.requestId) this.byRequestId.set(`${eeProject}/${request.requestId}`, name);
    return structuredClone(op);
  }
  async getOperation(name: string) {
    this.calls.push({ method: 'get', arg: name });
    const op = this.operations.get(name);
    if (!op) throw new EarthEngineError('not-found', 'EE.NOT_FOUND', `Operation ${name} not found`, 404);
    return structuredClone(op);
  }
  async listOperations(eeProject: string) {
    this.calls.push({ method: 'list', arg: eeProject });
    return { operations: [...this.operations.values()].filter((o) => o.name.startsWith(`projects/${eeProject}/`)).map((o) => structuredClone(o)), nextPageToken: null };
  }
  async cancelOperation(name: string) {
    this.calls.push({ method: 'cancel', arg: name });
  }
  tasksStarted() {
    return this.operations.size;
  }
}

export const transient = (msg = 'Service unavailable') => new EarthEngineError('transient', 'EE.UNAVAILABLE', msg, 503);
export const permanent = (msg = 'Unknown function Image.bogus') => new EarthEngineError('permanent', 'EE.INVALID_ARGUMENT', msg, 400);
export const queueFull = () => new EarthEngineError('queue-full', 'EE.QUEUE_FULL', 'Too many tasks already in the queue (3000). Please wait for some of them to complete.', 429);
