/**
 * One reliability "world": the Earth Engine simulator (manual clock), the emulator
 * stack of test/harness (functions-framework test servers over Google's Firestore and
 * Pub/Sub emulators), crash injection on the adapters, and an eeport clock that tests
 * move forward (so leases, stale-submit and backoff times pass without waiting).
 *
 * It keeps every event that arrives on the events topic, pumps them into
 * deliverWebhook when asked, and builds the snapshot the invariants check.
 */
import { randomUUID } from 'node:crypto';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../../tools/ee-simulator/index.ts';
import { startTestStack, pushMessage, type PushMessage, type TestStack } from '../../harness/stack.ts';
import { loadConfig, type Config } from '../../../functions/src/config.ts';
import type { Emulators } from '../../harness/emulators.ts';
import type { Adapters } from '../../../functions/src/composition-root.ts';
import type { CloudEvent } from '../../../functions/src/core/jobs/events.ts';
import type { Job } from '../../../functions/src/core/jobs/job.ts';
import { overshootBound } from '../../../functions/src/core/jobs/slots.ts';
import type { LogEntry } from '../../../functions/src/core/ports.ts';
import { jobFromDoc } from '../../../functions/src/adapters/job-store.firestore.ts';
import { CrashController, crashableAdapters } from './crash.ts';
import { assertInvariants, checkSlots, type InvariantOptions, type InvariantReport, type SlotCap, type WorldSnapshot } from './invariants.ts';

// The functions framework prints every error a function throws. Two kinds are expected here and
// only printed with RELIABILITY_LOGS=1: injected deaths, and SUBMIT.IN_PROGRESS (a duplicate delivery
// backing off so Pub/Sub redelivers it). Everything else is printed as usual.
const expectedError = (a: unknown) =>
  (a instanceof Error && (a.name === 'KilledError' || (a as { code?: unknown }).code === 'SUBMIT.IN_PROGRESS')) ||
  (typeof a === 'string' && (a.includes('(injected)') || a.includes('another delivery is submitting this job')));
if (process.env.RELIABILITY_LOGS !== '1') {
  const original = console.error;
  console.error = (...args: unknown[]) => {
    if (args.some(expectedError)) return;
    original(...args);
  };
}

/** eeport's clock: real time plus an offset the test moves forward. */
export class SkewClock {
  skewMs = 0;
  now = () => new Date(Date.now() + this.skewMs);
  advance(ms: number): void {
    this.skewMs += ms;
  }
}

/** Settings every reliability world starts from (tests add their own). */
export const BASE_ENV: Record<string, string> = {
  EEPORT_LOCAL: 'true',
  POLL_WINDOW_SECONDS: '0',
  POLL_AUTH_DISABLED: 'true',
  POLL_STALE_SUBMIT_SECONDS: '30',
  RESUBMIT_BACKOFF_SECONDS: '1',
  MAX_RESUBMISSIONS: '2',
  EE_ALLOWED_PROJECTS: 'ee-test-project,ee-second-project',
  MAX_IN_FLIGHT_PER_PROJECT: '50',
};

export const BASE_SIM: SimulatorOptions = { clock: { mode: 'manual' }, maxConcurrentPerProject: 4, taskDurationMs: 60_000, rateLimitPerSecond: 0, maxConcurrentRequests: 0 };

/**
 * Earth Engine's answer to a repeated requestId is undocumented: the exactly-once suites
 * run once in each reading (409 ALREADY_EXISTS, the simulator's default; or the
 * existing operation).
 */
export const DUPLICATE_REQUEST_ID_MODES = ['error', 'return-existing'] as const;
export type DuplicateRequestIdMode = (typeof DUPLICATE_REQUEST_ID_MODES)[number];

export interface WorldOptions {
  env?: Record<string, string>;
  sim?: SimulatorOptions;
  /** Extra adapter wrapping, inside the crash wrapper (e.g. gates). */
  wrap?: (a: Adapters) => Adapters;
}

export interface SettleOptions {
  /** Simulated Earth Engine time per round. */
  simStepMs?: number;
  /** eeport clock per round: leases, stale submits and backoffs run out. */
  skewStepMs?: number;
  maxRounds?: number;
  /** Feed events to deliverWebhook each round. */
  webhooks?: boolean;
  /** Extra work each round (e.g. redeliveries). */
  each?: (round: number) => Promise<void>;
  /**
   * Check the in-flight cap at the start of every round (default on). Mid-run matters:
   * once all is done nothing is in flight.
   */
  checkSlots?: boolean;
}

export class World {
  sim!: Simulator;
  stack!: TestStack;
  readonly clock = new SkewClock();
  readonly crash = new CrashController('kill');
  /** Every event received on the events topic, in arrival order, duplicates included. */
  events: CloudEvent[] = [];
  /** Events not yet fed to deliverWebhook. */
  private webhookBacklog: CloudEvent[] = [];
  logs: LogEntry[] = [];
  /** How many log lines of each event name were written (never truncated, unlike `logs`). */
  logCounts: Record<string, number> = {};
  private subscription = '';
  /** The environment the configuration was loaded from (a child process loads the same). */
  env: Record<string, string> = {};
  /**
   * Admissions (submit deliveries, the poller) that may decide at the same moment for one
   * project: the cap may be passed by this many less one (ADR 0012). 1: one at a time.
   */
  admissionConcurrency = 1;
  private opts: WorldOptions = {};

  /** @param duplicateRequestId the simulator's answer to a repeated requestId in every start() that does not say. */
  constructor(
    private readonly emu: Emulators,
    private readonly duplicateRequestId: DuplicateRequestIdMode = 'error',
  ) {}

  get config(): Config {
    return this.stack.config;
  }

  /** Starts (or restarts, with a clean Firestore project and simulator) the world. */
  async start(opts: WorldOptions = {}): Promise<this> {
    await this.stack?.close();
    await this.sim?.close();
    await this.emu.clear();
    this.opts = opts;
    this.events = [];
    this.webhookBacklog = [];
    this.logs = [];
    this.logCounts = {};
    this.crash.disarm();
    this.crash.revive();
    // A new simulator's clock starts at the real time: so does eeport's, as in production,
    // where both read real clocks (an earlier test's skew would put eeport minutes ahead).
    this.clock.skewMs = 0;
    this.sim = await startSimulator({ ...BASE_SIM, duplicateRequestId: this.duplicateRequestId, ...opts.sim });
    // test/harness's settings (fast Earth Engine retries, 3 s submit lease), then ours, then the test's.
    this.env = {
      GOOGLE_CLOUD_PROJECT: this.emu.projectId,
      FIRESTORE_EMULATOR_HOST: this.emu.firestoreHost,
      PUBSUB_EMULATOR_HOST: this.emu.pubsubHost,
      EE_PROJECT: 'ee-test-project',
      EE_API_ROOT: this.sim.url,
      EE_ACCESS_TOKEN: 'test-token',
      EE_RETRY_BASE_MS: '5',
      EE_RETRY_MAX_DELAY_MS: '50',
      EE_HTTP_TIMEOUT_MS: '1000',
      EE_RETRY_DEADLINE_MS: '1500',
      SUBMIT_LEASE_SECONDS: '3',
      LOG_LEVEL: 'error',
      ...BASE_ENV,
      ...opts.env,
    };
    this.stack = await startTestStack(loadConfig(this.env), (a) => this.adapters(a));
    // Our own pull subscription with a long ack deadline: a slow acknowledgement under load must not
    // make the emulator redeliver (a copy the harness would cause, not eeport).
    this.subscription = `events-rel-${randomUUID().slice(0, 8)}`;
    await this.stack.pubsub.topic(this.config.EVENTS_TOPIC).createSubscription(this.subscription, { ackDeadlineSeconds: 600 });
    return this;
  }

  /** The adapters every function target in this process runs on. */
  adapters(a: Adapters): Adapters {
    const inner = this.opts.wrap ? this.opts.wrap(a) : a;
    const crashable = crashableAdapters(inner, this.crash);
    const logs = this.logs;
    const counts = () => this.logCounts;
    return {
      ...crashable,
      clock: this.clock,
      logSink: {
        write: (e) => {
          counts()[e.event] = (counts()[e.event] ?? 0) + 1;
          logs.push(e);
          if (logs.length > 5_000) logs.splice(0, 1_000);
          if (process.env.RELIABILITY_LOGS === '1') console.log(JSON.stringify(e));
        },
      },
      sleep: async () => undefined,
    };
  }

  async close(): Promise<void> {
    await this.stack?.close();
    await this.sim?.close();
  }

  // ---- driving ------------------------------------------------------------------------

  /** One delivery of a requests-topic message (as Pub/Sub push). */
  async deliver(msg: PushMessage, target = 'submitExport'): Promise<number> {
    const status = await this.stack.deliverOnce(target, msg);
    // A process that died was never able to acknowledge, whatever the handler returned after.
    return this.crash.isDead ? 0 : status;
  }

  /**
   * Pub/Sub's redelivery: until acknowledged, each retry after the eeport clock moved on
   * by `stepMs` (so a crashed delivery's lease runs out). The next instance is alive.
   */
  async deliverUntilAcked(msg: PushMessage, opts: { target?: string; stepMs?: number; maxAttempts?: number } = {}): Promise<number[]> {
    const statuses: number[] = [];
    for (let i = 0; i < (opts.maxAttempts ?? 15); i++) {
      const s = await this.deliver(msg, opts.target);
      statuses.push(s);
      if (s >= 200 && s < 300) return statuses;
      this.crash.revive();
      this.clock.advance(opts.stepMs ?? 4_000);
    }
    throw new Error(`not acknowledged after ${statuses.length} deliveries: ${statuses.join(',')}`);
  }

  /** One pollExports invocation through its HTTP target. */
  async poll(): Promise<{ status: number; body: { kind?: string; totals?: Record<string, number> } | null }> {
    const res = await this.stack.http('pollExports', '', { method: 'POST' });
    const text = await res.text();
    if (this.crash.isDead) return { status: 0, body: null };
    let body = null;
    try {
      body = JSON.parse(text);
    } catch {
      /* a crashed poll answers an error page */
    }
    return { status: res.status, body };
  }

  /** Pulls what arrived on the events topic; returns the new events. */
  async collect(): Promise<CloudEvent[]> {
    const base = `http://${this.config.PUBSUB_EMULATOR_HOST}/v1/projects/${this.config.GOOGLE_CLOUD_PROJECT}/subscriptions/${this.subscription}`;
    const fresh: CloudEvent[] = [];
    for (;;) {
      const res = await fetch(`${base}:pull`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ maxMessages: 1000, returnImmediately: true }) });
      const { receivedMessages = [] } = (await res.json()) as { receivedMessages?: { ackId: string; message: { data: string } }[] };
      if (!receivedMessages.length) break;
      for (const r of receivedMessages) fresh.push(JSON.parse(Buffer.from(r.message.data, 'base64').toString()) as CloudEvent);
      const ack = await fetch(`${base}:acknowledge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ackIds: receivedMessages.map((r) => r.ackId) }) });
      if (!ack.ok) throw new Error(`acknowledging events failed: ${ack.status} ${await ack.text()}`);
    }
    this.events.push(...fresh);
    this.webhookBacklog.push(...fresh);
    return fresh;
  }

  /** Feeds every event collected so far to deliverWebhook (push subscription), redelivering failures. */
  async pumpWebhooks(): Promise<void> {
    await this.collect();
    const batch = this.webhookBacklog.splice(0);
    for (const ev of batch) await this.deliverUntilAcked({ ...pushMessage(ev), messageId: `ev-${ev.id}` }, { target: 'deliverWebhook' });
  }

  /** The push of one collected event to deliverWebhook, as its subscription would send it. */
  eventMessage(eventId: string): PushMessage {
    const ev = this.events.find((e) => e.id === eventId);
    if (!ev) throw new Error(`no event ${eventId} collected`);
    return { ...pushMessage(ev), messageId: `ev-${ev.id}` };
  }

  /** One push of an event to deliverWebhook; once acknowledged, the subscription never sends it again. */
  async deliverEvent(eventId: string): Promise<number> {
    const status = await this.deliver(this.eventMessage(eventId), 'deliverWebhook');
    if (status >= 200 && status < 300) this.webhookBacklog = this.webhookBacklog.filter((e) => e.id !== eventId);
    return status;
  }

  /** Takes events off the push subscription's backlog (the test delivers them itself). */
  holdEvents(ids: readonly string[]): void {
    this.webhookBacklog = this.webhookBacklog.filter((e) => !ids.includes(e.id));
  }

  /**
   * Runs the world until nothing is left to do: every job terminal, every task done,
   * the outbox relayed (then one more round, so late events arrive). Throws if it does
   * not settle within maxRounds.
   */
  async settle(o: SettleOptions = {}): Promise<number> {
    const maxRounds = o.maxRounds ?? 60;
    let calm = 0;
    for (let round = 0; round < maxRounds; round++) {
      this.crash.revive();
      if (o.checkSlots ?? true) {
        const drift = await this.slotDrift();
        if (drift.length) throw new Error(`in-flight cap broken (round ${round}): ${drift.join('; ')}`);
      }
      this.sim.clock.advance(o.simStepMs ?? 70_000);
      this.clock.advance(o.skewStepMs ?? 31_000);
      await o.each?.(round);
      const p = await this.poll();
      if (p.status !== 200) throw new Error(`poll answered ${p.status} while settling (round ${round}): ${JSON.stringify(p.body)}`);
      if (o.webhooks) await this.pumpWebhooks();
      else await this.collect();
      if ((await this.isQuiet(o.webhooks ?? false)) && ++calm >= 2) return round;
    }
    const left = (await this.jobs()).filter((j) => !['SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED', 'SKIPPED'].includes(j.state));
    throw new Error(`did not settle within ${maxRounds} rounds: ${left.length} job(s) live (${left.slice(0, 5).map((j) => `${j.jobId} ${j.state}`).join(', ')})`);
  }

  /** Nothing live, nothing running, nothing unsent (and no webhook pending). */
  async isQuiet(webhooks: boolean): Promise<boolean> {
    const fs = this.stack.firestore;
    const live = await fs.collection('jobs').where('state', 'in', ['QUEUED', 'SUBMITTING', 'PENDING', 'RUNNING', 'CANCELLING']).count().get();
    if (live.data().count > 0) return false;
    if (this.sim.tasks().some((t) => !t.done)) return false;
    const unsent = await fs.collection('outbox').where('sent', '==', false).count().get();
    if (unsent.data().count > 0) return false;
    if (webhooks) {
      const open = await fs.collection('webhookDeliveries').where('state', 'in', ['pending', 'delivering']).count().get();
      if (open.data().count > 0) return false;
    }
    return true;
  }

  // ---- reading ------------------------------------------------------------------------

  async jobs(): Promise<Job[]> {
    const snap = await this.stack.firestore.collection('jobs').get();
    return snap.docs.map((d) => jobFromDoc(d));
  }

  async job(jobId: string): Promise<Job> {
    const snap = await this.stack.firestore.collection('jobs').doc(jobId).get();
    if (!snap.exists) throw new Error(`no job ${jobId}`);
    return jobFromDoc(snap);
  }

  /** In-flight cap violations right now (the jobs in flight per project against the cap and the allowed overshoot). */
  async slotDrift(): Promise<string[]> {
    const snap = await this.stack.firestore.collection('jobs').where('state', 'in', ['SUBMITTING', 'PENDING', 'RUNNING', 'CANCELLING']).select('jobId', 'state', 'eeProject', 'slotShard').get();
    const jobs = snap.docs.map((d) => ({ jobId: d.id, state: d.get('state') as Job['state'], eeProject: String(d.get('eeProject')), slotShard: (d.get('slotShard') ?? null) as number | null }));
    return checkSlots(jobs, this.slotCap());
  }

  /** The admission settings this world runs with. */
  slotCap(): SlotCap {
    return { cap: this.config.MAX_IN_FLIGHT_PER_PROJECT, overshoot: overshootBound(this.config.MAX_IN_FLIGHT_PER_PROJECT, this.admissionConcurrency) - this.config.MAX_IN_FLIGHT_PER_PROJECT };
  }

  /** Jobs in flight per project: its taken slots (a count, as admission takes it). */
  async inFlightByProject(): Promise<Record<string, number>> {
    const snap = await this.stack.firestore.collection('jobs').where('state', 'in', ['SUBMITTING', 'PENDING', 'RUNNING', 'CANCELLING']).select('eeProject').get();
    const out: Record<string, number> = {};
    for (const d of snap.docs) out[String(d.get('eeProject'))] = (out[String(d.get('eeProject'))] ?? 0) + 1;
    return out;
  }

  async outbox(): Promise<{ id: string; sent: boolean }[]> {
    const snap = await this.stack.firestore.collection('outbox').select('sent').get();
    return snap.docs.map((d) => ({ id: d.id, sent: d.get('sent') === true }));
  }

  async snapshot(): Promise<WorldSnapshot> {
    await this.collect();
    return { jobs: await this.jobs(), tasks: this.sim.tasks(), events: [...this.events], outbox: await this.outbox() };
  }

  /** Snapshot + invariants; throws listing every violation. */
  async check(opts: Partial<InvariantOptions> = {}, label?: string): Promise<InvariantReport> {
    const snap = await this.snapshot();
    return assertInvariants(
      snap,
      { settled: true, allowDuplicateEvents: false, maxResubmissions: this.config.MAX_RESUBMISSIONS, cap: this.slotCap(), ...opts },
      label,
    );
  }
}

/** A distinct request body (asset load), so Earth Engine sees distinct tasks. */
export function request(i: number | string, overrides: Record<string, unknown> = {}) {
  return {
    description: `rel-${i}`,
    expression: { result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: `projects/p/assets/a${i}` } } } } } },
    fileExportOptions: { cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: `rel/${i}` }, fileFormat: 'GEO_TIFF' },
    ...overrides,
  };
}

/** A push message with a fresh message id (unless given). */
export function message(body: unknown, attributes: Record<string, string> = {}, messageId: string = randomUUID()): PushMessage {
  return { ...pushMessage(body, attributes), messageId };
}

export { pushMessage };
export type { PushMessage };
