/** Request and task counters, so benchmarks can count Earth Engine calls per job. */
import { API_METHODS, type ApiMethod } from './faults.ts';

/** A snapshot returned by `sim.stats()` and `GET /_sim/stats`. */
export interface SimulatorStats {
  /** Calls received per REST method, whatever their outcome (errors, faults and rejections included). */
  requests: Record<ApiMethod, number>;
  totalRequests: number;
  /** Error responses sent, by HTTP status code. */
  errorsByStatus: Record<string, number>;
  /** Connections destroyed by drop-connection faults. */
  droppedConnections: number;
  /** New tasks created by image:export (what the clients call "starting a task"); deduplicated requests are not counted. */
  tasksStarted: number;
  /** Tasks that left the queue and began RUNNING (first attempt only). */
  tasksDispatched: number;
  /** Tasks currently known in each state (all projects; deleted records that finished are gone). */
  tasksByState: Record<string, number>;
}

export class StatsCounter {
  private requests = Object.fromEntries(API_METHODS.map((m) => [m, 0])) as Record<ApiMethod, number>;
  private errors: Record<string, number> = {};
  private dropped = 0;
  tasksStarted = 0;
  tasksDispatched = 0;

  request(method: ApiMethod): void {
    this.requests[method] += 1;
  }

  error(httpCode: number): void {
    this.errors[httpCode] = (this.errors[httpCode] ?? 0) + 1;
  }

  drop(): void {
    this.dropped += 1;
  }

  snapshot(tasksByState: Record<string, number>): SimulatorStats {
    return {
      requests: { ...this.requests },
      totalRequests: Object.values(this.requests).reduce((a, b) => a + b, 0),
      errorsByStatus: { ...this.errors },
      droppedConnections: this.dropped,
      tasksStarted: this.tasksStarted,
      tasksDispatched: this.tasksDispatched,
      tasksByState,
    };
  }

  reset(): void {
    for (const m of API_METHODS) this.requests[m] = 0;
    this.errors = {};
    this.dropped = 0;
    this.tasksStarted = 0;
    this.tasksDispatched = 0;
  }
}
