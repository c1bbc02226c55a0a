/**
 * The whole of eeport on one machine: the Earth Engine simulator on a fast clock,
 * Google's Firestore and Pub/Sub emulators (or, where they are missing, an in-process
 * stand-in that says so), every function target behind the functions framework, and
 * the glue production gets from Google: push relays for the topics (Eventarc's binary
 * CloudEvents, retries with backoff, dead-lettering), a Cloud Scheduler stand-in for
 * pollExports, a Cloud Storage trigger stand-in for uploads, and a webhook receiver
 * that verifies signatures. `npm start` (start.ts) is the command line around it; tests
 * call startLocalStack() directly.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import '../../functions/src/index.ts';
import { loadConfig, type Config } from '../../functions/src/config.ts';
import { buildServices, realAdapters, setServices, type Adapters, type Services } from '../../functions/src/composition-root.ts';
import { createFirestoreJobStore } from '../../functions/src/adapters/job-store.firestore.ts';
import { createPubSubEventPublisher } from '../../functions/src/adapters/event-publisher.pubsub.ts';
import { generateSecret } from '../../functions/src/core/webhooks/index.ts';
import { tenantTopic } from '../../functions/src/core/tenants/index.ts';
import { startSimulator, type Simulator, type SimulatorOptions } from '../ee-simulator/index.ts';
import type { ExportImageRequest } from '../ee-simulator/validate-export.ts';
import { candidateSdkRoots, locateEmulator, startEmulator, type RunningEmulator } from '../emulators/emulators.ts';
import { EmulatorBroker, MemoryBroker, type Broker } from './broker.ts';
import { closeServer, discoverTargets, serveTarget, type ServedTarget } from './functions.ts';
import { LOCAL_EE_PROJECT, LOCAL_PROJECT, UPLOAD_BUCKET, UPLOAD_RULE_NAME, localEnv } from './local-config.ts';
import { createLocalLogSink } from './log-sink.ts';
import { brokerEventPublisher, MemoryStore } from './memory-store.ts';
import { readFirebasePorts } from '../firebase-ports.ts';
import { SAMPLE_REQUEST } from '../samples/export-requests.ts';
import { LOCAL_PORTS, choosePort, listenPreferred, targetPorts } from './ports.ts';
import { messagePublishedFormat, startPushRelay, type DeadLetter, type DeliveryReport, type PushRelay } from './push-relay.ts';
import { startScheduler, type SchedulerStandIn } from './scheduler.ts';
import { createStorageTrigger, type StorageTrigger } from './storage-trigger.ts';
import { createWebhookReceiver, describeWebhook, type WebhookReceiver } from './webhook-receiver.ts';
import { renderTable, type Row } from './table.ts';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface LocalStackOptions {
  /** 'auto' (default): the emulators when found, else the in-process fallback. */
  mode?: 'auto' | 'emulators' | 'in-memory';
  /** 'configured' (default): firebase.json's emulator ports and the stack's own; 'free': any free ports (tests). */
  ports?: 'configured' | 'free';
  /** Simulated seconds per real second. Default 20: a 60 s task takes 3 s. */
  scale?: number;
  /** Cloud Scheduler stand-in period. Default 5 s. */
  pollEverySeconds?: number;
  /** Configuration overrides (loadConfig variables). */
  env?: Record<string, string>;
  /** Logs, dead letters and the sample request. Default .eeport/local-stack in the repository. */
  stateDir?: string;
  /** Where status lines go. Default console.log. */
  print?: (line: string) => void;
  /** Push relay policy: deliveries before dead-lettering, backoff between them. */
  relay?: { maxAttempts?: number; minBackoffMs?: number; maxBackoffMs?: number };
  /** Where to look for the Cloud SDK (default: as the test harness does). */
  sdkRoots?: string[];
  /** The simulator's answers where Earth Engine's are undocumented (its defaults: 409 for a repeated requestId, 429 for queue full). */
  sim?: Pick<SimulatorOptions, 'duplicateRequestId' | 'queueFullStatus' | 'eecuModel' | 'eecuWhileRunning'>;
}

export interface LocalStack {
  mode: 'emulators' | 'in-memory';
  /** Why the in-process fallback is used (null with the emulators). */
  fallbackReason: string | null;
  config: Config;
  services: Services;
  simulator: Simulator;
  /** The emulator processes started (empty in the fallback). */
  emulators: RunningEmulator[];
  broker: Broker;
  functions: Map<string, ServedTarget>;
  relays: PushRelay[];
  scheduler: SchedulerStandIn | null;
  storage: StorageTrigger | null;
  receiver: WebhookReceiver & { url: string };
  webhookSecret: string;
  deadLetters: DeadLetter[];
  /** Port substitutions and other things worth saying before the table. */
  notes: string[];
  stateDir: string;
  logFile: string;
  sampleRequestFile: string;
  rows(): Row[];
  table(): string;
  /** Publishes to the requests topic, or to a tenant's (data: the request or an envelope, undefined for none; options as attributes). */
  publishRequest(data: unknown, attributes?: Record<string, string>, opts?: { tenant?: string }): Promise<string>;
  stop(): Promise<void>;
}

/** Exports whose description mentions "long" take 30 simulated minutes (time to try a cancel); others one minute. */
export function localTaskDuration(request: ExportImageRequest): number {
  return /\blong\b/i.test(request.description ?? '') ? 30 * 60_000 : 60_000;
}

let active = false;

/** True while any process of the group led by `pid` exists. */
export function processGroupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Stops an emulator and waits until its whole process group is gone. The emulator's
 * stop() returns when its launcher exits; the Firestore launcher is a shell script
 * whose JVM may need another second or two to shut down, and a stack that says
 * "stopped" must have stopped it. A group still there after 5 s is killed.
 */
async function stopEmulatorGroup(e: RunningEmulator): Promise<void> {
  await e.stop();
  const gone = async (ms: number) => {
    const until = Date.now() + ms;
    while (processGroupAlive(e.pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    return !processGroupAlive(e.pid);
  };
  if (await gone(5_000)) return;
  try {
    process.kill(-e.pid, 'SIGKILL');
  } catch {
    /* gone meanwhile */
  }
  await gone(2_000);
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  if (active) throw new Error('a local stack is already running in this process (the functions framework holds one set of services)');
  active = true;
  const print = options.print ?? ((line: string) => console.log(line));
  const free = options.ports === 'free';
  const scale = options.scale ?? 20;
  const pollEverySeconds = options.pollEverySeconds ?? 5;
  const relayPolicy = { maxAttempts: options.relay?.maxAttempts ?? 5, minBackoffMs: options.relay?.minBackoffMs ?? 1_000, maxBackoffMs: options.relay?.maxBackoffMs ?? 10_000 };
  const stateDir = resolve(options.stateDir ?? join(REPO_ROOT, '.eeport', 'local-stack'));
  mkdirSync(stateDir, { recursive: true });
  const notes: string[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];
  const stopping = new AbortController();
  // The Google clients otherwise probe for a metadata server that a laptop does not have.
  process.env.METADATA_SERVER_DETECTION ??= 'none';

  const emulatorPorts = readFirebasePorts();
  const want = free
    ? { firestore: 0, pubsub: 0, functions: 0, simulator: 0, receiver: 0, storage: 0 }
    : { ...emulatorPorts, simulator: LOCAL_PORTS.simulator, receiver: LOCAL_PORTS.webhookReceiver, storage: LOCAL_PORTS.storageTrigger };

  async function runCleanups() {
    for (const c of cleanups.reverse()) await c().catch((err: Error) => print(`  (while stopping: ${err.message})`));
    cleanups.length = 0;
  }

  try {
    // --- Earth Engine simulator -------------------------------------------------
    const simulator = await startSimulator({
      port: await choosePort('Earth Engine simulator', want.simulator, notes),
      clock: { mode: 'scaled', scale },
      taskDurationMs: localTaskDuration,
      ...options.sim,
    });
    cleanups.push(() => simulator.close());

    // --- Firestore and Pub/Sub: the emulators, or the fallback ----------------------
    const mode = options.mode ?? 'auto';
    let fallbackReason: string | null = mode === 'in-memory' ? 'asked for (--in-memory)' : null;
    const emulators: RunningEmulator[] = [];
    if (mode !== 'in-memory') {
      const roots = options.sdkRoots ?? candidateSdkRoots();
      const locations = (['firestore', 'pubsub'] as const).map((kind) => locateEmulator(kind, roots));
      const missing = locations.flatMap((l) => ('missing' in l ? [l.missing] : []));
      if (missing.length) fallbackReason = missing.join('; ');
      else {
        const started = await Promise.allSettled(
          locations.map(async (l) => {
            if ('missing' in l) throw new Error(l.missing);
            return startEmulator(l, await choosePort(`${l.kind} emulator`, l.kind === 'firestore' ? want.firestore : want.pubsub, notes));
          }),
        );
        for (const s of started) if (s.status === 'fulfilled') emulators.push(s.value);
        cleanups.push(() => Promise.all(emulators.map(stopEmulatorGroup)));
        const failed = started.flatMap((s) => (s.status === 'rejected' ? [(s.reason as Error).message.split('\n')[0]!] : []));
        if (failed.length) {
          await Promise.all(emulators.map(stopEmulatorGroup));
          emulators.length = 0;
          fallbackReason = `an emulator failed to start: ${failed.join('; ')}`;
        }
      }
      if (fallbackReason && mode === 'emulators') throw new Error(`emulators unavailable: ${fallbackReason}`);
    }
    const usingEmulators = fallbackReason === null;
    if (!usingEmulators) {
      const bar = '!'.repeat(78);
      print(`${bar}\n IN-PROCESS MODE — Google's Firestore and Pub/Sub emulators are not used:\n   ${fallbackReason}\n Jobs live in an in-memory JobStore and topics in an in-memory broker inside this\n process: nothing persists, and transactions are serialized rather than Firestore's.\n Install the emulators (gcloud components install cloud-firestore-emulator pubsub-emulator)\n or set EEPORT_GCLOUD_SDK_ROOT for the real thing.\n${bar}`);
    }
    const firestoreEmu = emulators.find((e) => e.kind === 'firestore');
    const pubsubEmu = emulators.find((e) => e.kind === 'pubsub');

    // --- Webhook receiver (its URL goes into the upload rule) -----------------------
    const webhookSecret = generateSecret();
    // Tenants' secrets join once the configuration is read: the receiver stands in for every tenant's endpoint.
    const receiverSecrets = [webhookSecret];
    const receiverCore = createWebhookReceiver(receiverSecrets, (w) => print(`[webhook] ${describeWebhook(w)}`));
    const receiverPort = await listenPreferred(receiverCore.server, 'webhook receiver', want.receiver, notes);
    cleanups.push(() => closeServer(receiverCore.server));
    const receiver = Object.assign(receiverCore, { url: `http://127.0.0.1:${receiverPort}` });

    // --- Topics ---------------------------------------------------------------------
    let broker: Broker;
    let pubsubHostForTable: string;
    if (pubsubEmu) {
      broker = new EmulatorBroker(pubsubEmu.host, LOCAL_PROJECT);
      pubsubHostForTable = pubsubEmu.host;
    } else {
      const memory = new MemoryBroker(LOCAL_PROJECT);
      const rest: Server = memory.serveRest();
      const port = await listenPreferred(rest, 'in-memory Pub/Sub', want.pubsub, notes);
      cleanups.push(() => closeServer(rest));
      broker = memory;
      pubsubHostForTable = `127.0.0.1:${port}`;
    }

    // --- eeport's configuration and object graph -------------------------------------
    const config = loadConfig(
      localEnv({
        eeApiRoot: simulator.url,
        firestoreHost: firestoreEmu?.host ?? null,
        pubsubHost: pubsubEmu?.host ?? null,
        webhookSecret,
        pollEverySeconds,
        receiverUrl: receiver.url,
        overrides: options.env ?? {},
      }),
    );
    const firestore = firestoreEmu ? new Firestore({ projectId: LOCAL_PROJECT, host: firestoreEmu.host, ssl: false, ignoreUndefinedProperties: true }) : null;
    if (firestore) cleanups.push(() => firestore.terminate());
    const warmUp = firestore?.doc('_local/warm-up').get();
    warmUp?.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
    const deadLetterTopic = 'eeport-dead-letter';
    receiverSecrets.push(...config.tenants.flatMap((t) => t.webhookSecrets));
    const tenantTopics = config.tenants.map((t) => tenantTopic(config.REQUESTS_TOPIC, t.id));
    for (const t of [config.REQUESTS_TOPIC, ...tenantTopics, config.EVENTS_TOPIC, deadLetterTopic]) await broker.ensureTopic(t);
    await broker.ensureSubscription(`${deadLetterTopic}-inspect`, deadLetterTopic, 60);

    const logFile = join(stateDir, 'functions.log');
    let quiet = false; // while the stack probes the api function itself
    const logSink = createLocalLogSink(logFile, config.LOG_LEVEL, (line) => quiet || print(`[eeport]  ${line}`));
    cleanups.push(() => logSink.close());
    // The poller sleeps between cycles through this; stopping ends its tick at once. (The
    // functions framework prints a failed function's stack: this one is a single line.)
    const stoppingError = () => Object.assign(new Error('the local stack is stopping'), { stack: '[local stack] pollExports: tick abandoned, the stack is stopping' });
    const sleep = (ms: number) =>
      new Promise<void>((res, rej) => {
        if (stopping.signal.aborted) return rej(stoppingError());
        const onAbort = () => {
          clearTimeout(t);
          rej(stoppingError());
        };
        const t = setTimeout(() => {
          stopping.signal.removeEventListener('abort', onAbort);
          res();
        }, ms);
        stopping.signal.addEventListener('abort', onAbort, { once: true });
      });
    const base = realAdapters(config);
    let adapters: Adapters;
    if (firestore && pubsubEmu) {
      const pubsub = new PubSub({ projectId: LOCAL_PROJECT, apiEndpoint: pubsubEmu.host, emulatorMode: true });
      // The first call opens the channel and wakes the emulator's JVM (~1 s): better here than in the first request.
      await warmUp;
      cleanups.push(() => pubsub.close());
      adapters = { ...base, store: createFirestoreJobStore(firestore), publisher: createPubSubEventPublisher(pubsub, config.EVENTS_TOPIC), logSink, sleep };
    } else {
      adapters = { ...base, store: new MemoryStore(), publisher: brokerEventPublisher(broker, config.EVENTS_TOPIC), logSink, sleep };
    }
    const services = buildServices(config, adapters);
    setServices(services);
    cleanups.push(async () => setServices(undefined));

    // --- Function targets ----------------------------------------------------------
    const targets = discoverTargets();
    const reserved = new Set([want.firestore, want.pubsub, want.simulator, want.receiver, want.storage].filter((p) => p > 0));
    const preferred = targetPorts(
      targets.map((t) => t.name),
      want.functions,
      reserved,
    );
    const functions = new Map<string, ServedTarget>();
    for (const t of targets) {
      const served = await serveTarget(t, free ? 0 : preferred.get(t.name)!, notes);
      functions.set(t.name, served);
      cleanups.push(() => closeServer(served.server));
    }

    // --- Delivery wiring -----------------------------------------------------------
    const deadLetters: DeadLetter[] = [];
    const deadLetterFile = join(stateDir, 'dead-letters.jsonl');
    const deadLetter = async (dl: DeadLetter) => {
      const project = dl.subscription.split('/')[1] ?? LOCAL_PROJECT;
      if (dl.subscription.startsWith(`projects/${LOCAL_PROJECT}/`)) {
        await broker.publish(deadLetterTopic, {
          ...(dl.message.data ? { data: Buffer.from(dl.message.data, 'base64') } : {}),
          attributes: {
            ...(dl.message.attributes ?? {}),
            // What Pub/Sub's dead-lettering adds.
            CloudPubSubDeadLetterSourceDeliveryCount: String(dl.attempts),
            CloudPubSubDeadLetterSourceSubscription: dl.subscription.split('/').pop()!,
            CloudPubSubDeadLetterSourceSubscriptionProject: project,
            CloudPubSubDeadLetterSourceTopicPublishTime: dl.message.publishTime,
          },
        });
      }
      appendFileSync(deadLetterFile, `${JSON.stringify(dl)}\n`);
      deadLetters.push(dl);
      print(`[relay]   DEAD-LETTERED message ${dl.message.messageId} from ${dl.subscription.split('/').pop()} after ${dl.attempts} deliveries (last: ${dl.lastStatus ?? dl.lastError}); see ${deadLetterFile}`);
    };
    const reportDelivery = (target: string) => (r: DeliveryReport) => {
      if (r.outcome === 'retry') print(`[relay]   ${target}: message ${r.messageId} delivery ${r.attempt} failed (${r.status ?? r.error}${r.status ? `: ${(r.error ?? '').slice(0, 120)}` : ''}); again in ${r.retryInSeconds} s`);
      else if (r.outcome === 'acked' && r.attempt > 1) print(`[relay]   ${target}: message ${r.messageId} delivered on attempt ${r.attempt}`);
    };

    const pollTarget = functions.get('pollExports');
    const scheduler = pollTarget
      ? startScheduler({ url: pollTarget.url, everyMs: pollEverySeconds * 1000, onProblem: (m) => stopping.signal.aborted || print(`[scheduler] ${m}`) })
      : null;
    if (scheduler) cleanups.push(() => scheduler.stop());

    const relays: PushRelay[] = [];
    const wire = async (target: string, topic: string, onAcked?: () => void) => {
      const fn = functions.get(target);
      if (!fn) return;
      const sub = `${topic}-${target.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
      await broker.ensureSubscription(sub, topic, 60);
      const report = reportDelivery(target);
      const relay = startPushRelay({
        subscription: broker.subscription(sub),
        target: fn.url,
        format: messagePublishedFormat(LOCAL_PROJECT, topic, sub),
        ...relayPolicy,
        timeoutMs: 60_000,
        deadLetter,
        onDelivery: (r) => {
          report(r);
          if (r.outcome === 'acked') onAcked?.();
        },
        onPullError: (err) => print(`[relay]   ${target}: ${err.message}`),
      });
      relays.push(relay);
      cleanups.push(() => relay.stop());
    };
    await wire('submitExport', config.REQUESTS_TOPIC, () => scheduler?.kick());
    // One topic and push subscription per tenant, as infra/ makes them: the topic says whose a message is.
    for (const topic of tenantTopics) await wire('submitExport', topic, () => scheduler?.kick());
    await wire('deliverWebhook', config.EVENTS_TOPIC);

    let storage: StorageTrigger | null = null;
    let storageUrl: string | null = null;
    const uploadsTarget = functions.get('onObjectFinalized');
    if (uploadsTarget) {
      const report = reportDelivery('onObjectFinalized');
      const trigger = await createStorageTrigger({
        target: uploadsTarget.url,
        relay: relayPolicy,
        deadLetter,
        onDelivery: (r) => {
          report(r);
          if (r.outcome === 'acked') scheduler?.kick();
        },
      });
      storage = trigger;
      const port = await listenPreferred(trigger.server, 'storage trigger stand-in', want.storage, notes);
      storageUrl = `http://127.0.0.1:${port}`;
      cleanups.push(() => closeServer(trigger.server));
      cleanups.push(() => trigger.stop());
    }

    const apiTarget = functions.get('api');
    quiet = true;
    const dashboard = apiTarget
      ? await fetch(apiTarget.url, { signal: AbortSignal.timeout(5_000) })
          .then(async (r) => (await r.arrayBuffer(), r.ok && (r.headers.get('content-type') ?? '').includes('text/html')))
          .catch(() => false)
      : false;
    quiet = false;

    const sampleRequestFile = join(stateDir, 'sample-request.json');
    writeFileSync(sampleRequestFile, `${JSON.stringify(SAMPLE_REQUEST, null, 2)}\n`);

    // Cleanups run in reverse: relays and the scheduler stop first, the simulator last.
    // Work in flight learns of the stop through `stopping` (the poller's sleep).
    cleanups.push(async () => stopping.abort());

    let stopped: Promise<void> | null = null;
    const stack: LocalStack = {
      mode: usingEmulators ? 'emulators' : 'in-memory',
      fallbackReason,
      config,
      services,
      simulator,
      emulators,
      broker,
      functions,
      relays,
      scheduler,
      storage,
      receiver,
      webhookSecret,
      deadLetters,
      notes,
      stateDir,
      logFile,
      sampleRequestFile,
      rows: () =>
        tableRows({
          stack,
          pubsubHost: pubsubHostForTable,
          storageUrl,
          deadLetterTopic,
          deadLetterFile,
          relayPolicy,
          scale,
          pollEverySeconds,
          dashboard,
        }),
      table: () => renderTable(stack.rows()),
      publishRequest: (data, attributes, opts) =>
        broker.publish(opts?.tenant === undefined ? config.REQUESTS_TOPIC : tenantTopic(config.REQUESTS_TOPIC, opts.tenant), {
          ...(data === undefined ? {} : { data: typeof data === 'string' ? data : JSON.stringify(data) }),
          ...(attributes ? { attributes } : {}),
        }),
      stop: () =>
        (stopped ??= (async () => {
          await runCleanups();
          active = false;
        })()),
    };
    return stack;
  } catch (err) {
    await runCleanups();
    active = false;
    throw err;
  }
}

// ---------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------

function tableRows(p: {
  stack: LocalStack;
  pubsubHost: string;
  storageUrl: string | null;
  deadLetterTopic: string;
  deadLetterFile: string;
  relayPolicy: { maxAttempts: number; minBackoffMs: number; maxBackoffMs: number };
  scale: number;
  pollEverySeconds: number;
  /** Whether the api function's `/` answered a page at start. */
  dashboard: boolean;
}): Row[] {
  const { stack } = p;
  const cfg = stack.config;
  const rel = (f: string) => {
    const r = relative(process.cwd(), f);
    return r.startsWith('..') ? f : r;
  };
  const sample = rel(stack.sampleRequestFile);
  const hook = `${stack.receiver.url}/hooks/mine`;
  const emu = stack.mode === 'emulators';
  const gcloud = `CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB=http://${p.pubsubHost}/ CLOUDSDK_AUTH_DISABLE_CREDENTIALS=true gcloud --project=${LOCAL_PROJECT}`;
  const restPublish = (attrs: string) =>
    `curl -s -X POST http://${p.pubsubHost}/v1/projects/${LOCAL_PROJECT}/topics/${cfg.REQUESTS_TOPIC}:publish -H 'content-type: application/json' -d "{\\"messages\\":[{\\"data\\":\\"$(base64 < ${sample} | tr -d '\\n')\\",\\"attributes\\":{${attrs}}}]}"`;
  const fs = stack.emulators.find((e) => e.kind === 'firestore');
  const ps = stack.emulators.find((e) => e.kind === 'pubsub');
  const rows: Row[] = [];
  const sim = stack.simulator.url;
  rows.push({
    service: 'Earth Engine simulator',
    where: `${sim}  (clock ×${p.scale})`,
    how: [
      `EE_API_ROOT; a 60 s task takes ${Math.round((60 / p.scale) * 10) / 10} s; descriptions with "long" take 30 simulated min`,
      `repeated requestId → ${stack.simulator.options.duplicateRequestId === 'error' ? '409 ALREADY_EXISTS' : 'the existing operation'}; queue full → HTTP ${stack.simulator.options.queueFullStatus}`,
      `curl -s ${sim}/_sim/tasks    ·    curl -s ${sim}/_sim/stats`,
      `curl -s -X POST ${sim}/_sim/faults -H 'content-type: application/json' -d '{"kind":"task-failure","match":{"description":"^boom"},"message":"User memory limit exceeded."}'`,
    ],
  });
  if (fs && ps) {
    rows.push({
      service: 'Firestore emulator',
      where: `${fs.host}  (pid ${fs.pid})`,
      how: [`export FIRESTORE_EMULATOR_HOST=${fs.host}`, `curl -s 'http://${fs.host}/v1/projects/${LOCAL_PROJECT}/databases/(default)/documents/jobs'`],
    });
    rows.push({ service: 'Pub/Sub emulator', where: `${ps.host}  (pid ${ps.pid})`, how: [`export PUBSUB_EMULATOR_HOST=${ps.host}`] });
  } else {
    rows.push({ service: 'Job store (IN-MEMORY)', where: 'this process', how: ['not Firestore (see the banner above); jobs are lost when the stack stops'] });
    rows.push({ service: 'Pub/Sub (IN-MEMORY)', where: `http://${p.pubsubHost}`, how: ['not the emulator: a stand-in answering publish / pull / acknowledge over REST'] });
  }
  rows.push({
    service: `topic ${cfg.REQUESTS_TOPIC}`,
    where: `→ push relay → submitExport`,
    how: [
      `publish ${sample}:  ${restPublish(`\\"callbackUrl\\":\\"${hook}\\"`)}`,
      ...(emu ? [`or: ${gcloud} pubsub topics publish ${cfg.REQUESTS_TOPIC} --message="$(cat ${sample})" --attribute=callbackUrl=${hook}`] : []),
      `cancel: attributes action=cancel and jobId=… (or idempotencyKey=…)`,
    ],
  });
  for (const t of cfg.tenants) {
    const topic = `${cfg.REQUESTS_TOPIC}-${t.id}`;
    rows.push({
      service: `topic ${topic}`,
      where: `→ push relay → submitExport (tenant ${t.id})`,
      how: [
        `tenant ${t.id}'s requests: ${t.eeProjects.join(', ')}; buckets ${t.exportBuckets.join(', ') || 'none'}; assets under ${t.assetPrefixes.join(', ')}`,
        `API: x-api-key one of its apiKeys; it sees only its own jobs and batches`,
      ],
    });
  }
  rows.push({
    service: `topic ${cfg.EVENTS_TOPIC}`,
    where: `→ push relay → deliverWebhook`,
    how: emu
      ? [`tail it: ${gcloud} pubsub subscriptions create my-tail --topic=${cfg.EVENTS_TOPIC}; then ... pubsub subscriptions pull my-tail --auto-ack --limit=20`]
      : ['CloudEvents JSON, one per state change'],
  });
  rows.push({
    service: 'push relays',
    where: `binary CloudEvents, like Eventarc`,
    how: [
      `non-2xx: redelivered after ${p.relayPolicy.minBackoffMs / 1000} s, doubling up to ${p.relayPolicy.maxBackoffMs / 1000} s; after ${p.relayPolicy.maxAttempts} deliveries → topic ${p.deadLetterTopic} + ${rel(p.deadLetterFile)}`,
      ...(emu ? [`${gcloud} pubsub subscriptions pull ${p.deadLetterTopic}-inspect --auto-ack`] : []),
    ],
  });
  const describe: Record<string, (url: string) => string[]> = {
    api: (url) => [
      `submit: curl -s -X POST ${url}v1/jobs -H 'content-type: application/json' -d @${sample}`,
      `list: curl -s ${url}v1/jobs    ·    one: curl -s ${url}v1/jobs/<jobId>    ·    cancel: curl -s -X POST ${url}v1/jobs/<jobId>:cancel`,
      `OpenAPI: ${url}v1/openapi.json`,
    ],
    submitExport: () => ['CloudEvent (Pub/Sub messagePublished), fed by the requests relay'],
    pollExports: (url) => [`HTTP; Cloud Scheduler stand-in POSTs every ${p.pollEverySeconds} s (and right after each request); now: curl -s -X POST ${url}`],
    deliverWebhook: () => ['CloudEvent (Pub/Sub messagePublished), fed by the events relay'],
    onObjectFinalized: () => ['CloudEvent (storage object finalized), fed by the storage trigger stand-in'],
  };
  for (const [name, fn] of stack.functions) {
    rows.push({ service: `function ${name}`, where: fn.url, how: describe[name]?.(fn.url) ?? [`${fn.signatureType === 'http' ? 'HTTP' : 'CloudEvent'} target (no trigger wired locally)`] });
  }
  if (p.storageUrl) {
    rows.push({
      service: 'storage trigger stand-in',
      where: `${p.storageUrl}/finalize`,
      how: [
        `"upload": curl -s -X POST ${p.storageUrl}/finalize -d '{"bucket":"${UPLOAD_BUCKET}","name":"incoming/my-scene.tif","contentType":"image/tiff"}'`,
        `upload rule "${UPLOAD_RULE_NAME}": gs://${UPLOAD_BUCKET}/incoming/**/*.tif → asset projects/${LOCAL_EE_PROJECT}/assets/uploads/{{stem}}`,
      ],
    });
  }
  rows.push({
    service: 'webhook receiver',
    where: `${stack.receiver.url}/hooks/<any>`,
    how: [`use as callbackUrl; verifies Standard Webhooks signatures and prints each call`, `WEBHOOK_SECRETS=${stack.webhookSecret}`],
  });
  const api = stack.functions.get('api');
  if (api) rows.push({ service: 'dashboard', where: api.url, how: [p.dashboard ? 'open in a browser' : 'open in a browser once the api function serves it (GET / does not answer a page yet)'] });
  rows.push({ service: 'function logs', where: rel(stack.logFile), how: [`tail -f ${rel(stack.logFile)}   (JSON lines; warnings also shown here)`] });
  rows.push({ service: 'stop', where: 'Ctrl-C', how: ['stops everything above (emulators by process group)'] });
  return rows;
}
