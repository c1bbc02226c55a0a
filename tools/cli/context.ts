/**
 * What every command gets: the global options resolved (where the API is, credentials,
 * --json, colour), the API client, output helpers that keep stdout for results and
 * stderr for everything else, and a signal that Ctrl-C aborts.
 */
import { ApiClient, resolveApiTarget, type ApiTarget } from './client.ts';
import { usageError } from './errors.ts';
import { colourWanted, makeStyle, type Style } from './format.ts';
import { readStackFile, DEFAULT_STACK_FILE, type StackFile } from './stack-file.ts';
import type { TopicAddress } from './pubsub.ts';

export interface GlobalOptions {
  api?: string;
  apiKey?: string;
  idToken?: string;
  json?: boolean;
  color?: boolean;
  timeout?: number;
}

export class Context {
  readonly json: boolean;
  /** Styles for stdout and stderr (each coloured only if that stream is a terminal). */
  readonly out: Style;
  readonly err: Style;
  private stack: StackFile | null | undefined;
  private apiTarget: ApiTarget | undefined;
  private apiClient: ApiClient | undefined;
  private abort: AbortController | undefined;

  constructor(
    readonly options: GlobalOptions,
    readonly env: NodeJS.ProcessEnv,
  ) {
    this.json = Boolean(options.json);
    this.out = makeStyle(colourWanted(process.stdout, options.color !== false, this.json, env));
    this.err = makeStyle(colourWanted(process.stderr, options.color !== false, this.json, env));
  }

  get timeoutMs(): number {
    return Math.round((this.options.timeout ?? 30) * 1000);
  }

  /** The local stack's file (EEPORT_STACK_FILE or .eeport/stack.json), or null. */
  get stackFile(): StackFile | null {
    if (this.stack === undefined) this.stack = readStackFile(this.env.EEPORT_STACK_FILE || DEFAULT_STACK_FILE);
    return this.stack;
  }

  get target(): ApiTarget {
    this.apiTarget ??= resolveApiTarget(this.options.api, this.env.EEPORT_API_URL || undefined, this.stackFile);
    return this.apiTarget;
  }

  get client(): ApiClient {
    this.apiClient ??= new ApiClient(
      this.target,
      { apiKey: this.options.apiKey || this.env.EEPORT_API_KEY || undefined, idToken: this.options.idToken || this.env.EEPORT_ID_TOKEN || undefined },
      this.timeoutMs,
    );
    return this.apiClient;
  }

  /** The stack file's Pub/Sub settings count only when the API address came from it too. */
  private get stackForPubsub(): StackFile | null {
    return this.target.source === 'stack-file' || this.target.source === 'default' ? this.stackFile : null;
  }

  /** Where `--via pubsub` publishes: flags › environment › the local stack's file › defaults. */
  topic(flags: { topic?: string; cloudProject?: string }): TopicAddress {
    const stack = this.stackForPubsub;
    const projectId = flags.cloudProject || this.env.GOOGLE_CLOUD_PROJECT || stack?.projectId;
    if (!projectId) throw usageError('--via pubsub needs the Google Cloud project of the topic: --cloud-project ID (or GOOGLE_CLOUD_PROJECT, or a running local stack)');
    const topic = flags.topic || this.env.REQUESTS_TOPIC || stack?.requestsTopic || 'eeport-requests';
    const emulatorHost = this.env.PUBSUB_EMULATOR_HOST || stack?.pubsubEmulatorHost || undefined;
    return { projectId, topic, ...(emulatorHost ? { emulatorHost } : {}) };
  }

  /** The deployment's default Earth Engine project, where the CLI can know it. */
  get defaultEeProject(): string | undefined {
    return this.env.EE_PROJECT || this.stackForPubsub?.eeProject || undefined;
  }

  /** Aborted by Ctrl-C (SIGINT), once a command asks for it. */
  get signal(): AbortSignal {
    if (!this.abort) {
      const ac = new AbortController();
      this.abort = ac;
      process.once('SIGINT', () => ac.abort());
      process.once('SIGTERM', () => ac.abort());
    }
    return this.abort.signal;
  }

  /** A result line on stdout (human mode). */
  print(text: string): void {
    process.stdout.write(`${text}\n`);
  }

  /** The machine-readable result (--json): one JSON document on stdout. */
  printJson(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** A remark for people on stderr; silent with --json. */
  note(text: string): void {
    if (!this.json) process.stderr.write(`${text}\n`);
  }
}
