/**
 * A scriptable EarthEngine port for unit tests: remembers requestIds like the service
 * (same requestId → same operation), and fails on demand.
 */
import { EarthEngineError } from '../../functions/src/core/kernel/errors.ts';
import type { EarthEngine, EeImage, ListImagesPage } from '../../functions/src/core/ports.ts';
import type { Operation } from '../../functions/src/core/jobs/operation.ts';

export class FakeEarthEngine implements EarthEngine {
  calls: { method: string; arg: string }[] = [];
  operations = new Map<string, Operation>();
  byRequestId = new Map<string, string>();
  /** Errors thrown by the next calls, in order. */
  failures: EarthEngineError[] = [];
  /** The answer to a repeated requestId (undocumented): the operation, or 409 ALREADY_EXISTS. */
  duplicateRequestId: 'return-existing' | 'error' = 'return-existing';
  /** Exports that start their task and then lose the answer (a dropped connection). */
  loseResponses = 0;
  /** The operations' createTime. */
  clock: () => Date = () => new Date(0);
  private seq = 0;

  async exportImage(eeProject: string, request: { requestId?: string; description?: string; priority?: number }): Promise<Operation> {
    this.calls.push({ method: 'export', arg: request.requestId ?? '' });
    const f = this.failures.shift();
    if (f) throw f;
    const known = request.requestId && this.byRequestId.get(request.requestId);
    if (known) {
      if (this.duplicateRequestId === 'error') throw new EarthEngineError('already-exists', 'EE.ALREADY_EXISTS', `Request ID '${request.requestId}' has already been used.`, 409);
      return structuredClone(this.operations.get(known)!);
    }
    const name = `projects/${eeProject}/operations/OP${String(++this.seq).padStart(4, '0')}`;
    const op: Operation = {
      name,
      done: false,
      metadata: { state: 'PENDING', type: 'EXPORT_IMAGE', description: request.description ?? '', priority: request.priority ?? 100, createTime: this.clock().toISOString() },
    };
    this.operations.set(name, op);
    // Scoped to the caller (one here), not the project, as the service scopes it to the user.
    if (request.requestId) this.byRequestId.set(request.requestId, name);
    if (this.loseResponses > 0) {
      this.loseResponses--;
      throw new EarthEngineError('transient', 'EE.UNAVAILABLE', 'Earth Engine unreachable (image:export): socket hang up', null);
    }
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
  /** Collections for listImages: name → images (any order). */
  collections = new Map<string, EeImage[]>();
  async listImages(collection: string, page: { startTime?: string; pageSize?: number; pageToken?: string }): Promise<ListImagesPage> {
    this.calls.push({ method: 'listImages', arg: collection });
    const f = this.failures.shift();
    if (f) throw f;
    const all = this.collections.get(collection);
    if (!all) throw new EarthEngineError('not-found', 'EE.NOT_FOUND', `Asset '${collection}' not found`, 404);
    const from = page.startTime ? Date.parse(page.startTime) : -Infinity;
    const list = all.filter((i) => Date.parse(i.startTime) >= from).sort((a, b) => Date.parse(a.startTime) - Date.parse(b.startTime) || a.name.localeCompare(b.name));
    const offset = Number(page.pageToken ?? 0);
    const size = page.pageSize ?? 1000;
    return { images: list.slice(offset, offset + size).map((i) => ({ ...i })), nextPageToken: offset + size < list.length ? String(offset + size) : null };
  }
  tasksStarted() {
    return this.operations.size;
  }
}

export const transient = (msg = 'Service unavailable') => new EarthEngineError('transient', 'EE.UNAVAILABLE', msg, 503);
export const permanent = (msg = 'Unknown function Image.bogus') => new EarthEngineError('permanent', 'EE.INVALID_ARGUMENT', msg, 400);
export const queueFull = () => new EarthEngineError('queue-full', 'EE.QUEUE_FULL', 'Too many tasks already in the queue (3000). Please wait for some of them to complete.', 429);
