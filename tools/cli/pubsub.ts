/**
 * Publishing to the requests topic (`--via pubsub`).
 *
 * - Against an emulator (`PUBSUB_EMULATOR_HOST`, or the local stack's
 *   `pubsubEmulatorHost`): one call to the emulator's REST API
 *   (`POST /v1/projects/{p}/topics/{t}:publish`). Google's emulator and the local
 *   stack's in-memory broker (its fallback when the emulator is not installed) both
 *   answer it; the in-memory broker speaks no gRPC, which the client library uses.
 * - Against Pub/Sub itself: @google-cloud/pubsub with Application Default Credentials.
 *
 * Also works out the job id the message will get, the way intake does
 * (functions/src/core/intake.ts): idempotency key › the request's requestId (+ its
 * Earth Engine project) › the message (its id and the topic, as Eventarc's `ce-source`).
 */
import { jobIdFor, type IdentityKey } from '../../functions/src/core/jobs/index.ts';
import { CliError, EXIT, rootCause } from './errors.ts';

export interface TopicAddress {
  projectId: string;
  topic: string;
  /** host:port of an emulator, or undefined for Pub/Sub itself. */
  emulatorHost?: string;
}

export interface OutgoingMessage {
  data?: string;
  attributes?: Record<string, string>;
}

const topicPath = (t: TopicAddress) => `projects/${t.projectId}/topics/${t.topic}`;

/** The CloudEvent source Eventarc gives a message of this topic; with the message id, the job's identity. */
export const eventSourceOf = (t: TopicAddress) => `//pubsub.googleapis.com/${topicPath(t)}`;

/** The job id a published submit will have, when it can be known. */
export function publishedJobId(identity: IdentityKey | null, t: TopicAddress, messageId: string): string | null {
  if (identity) return jobIdFor(identity);
  return jobIdFor({ kind: 'message', source: eventSourceOf(t), messageId });
}

/** Publishes one message; returns its message id. Failures are CliErrors with exit codes. */
export async function publish(t: TopicAddress, msg: OutgoingMessage, timeoutMs: number): Promise<string> {
  return t.emulatorHost ? publishToEmulator(t, msg, timeoutMs) : publishToPubsub(t, msg, timeoutMs);
}

async function publishToEmulator(t: TopicAddress, msg: OutgoingMessage, timeoutMs: number): Promise<string> {
  const host = t.emulatorHost!.replace(/^https?:\/\//, '');
  const url = `http://${host}/v1/${topicPath(t)}:publish`;
  const message: Record<string, unknown> = { attributes: msg.attributes ?? {} };
  if (msg.data !== undefined) message.data = Buffer.from(msg.data).toString('base64');
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [message] }), signal: AbortSignal.timeout(timeoutMs) });
    text = await res.text();
  } catch (err) {
    throw new CliError(EXIT.API, `cannot reach the Pub/Sub emulator at ${host} (${rootCause(err)}); is the local stack (\`npm start\`) or the emulator running?`);
  }
  if (res.status === 404) throw new CliError(EXIT.NOT_FOUND, `no topic ${topicPath(t)} on the Pub/Sub emulator at ${host} (check --topic / --cloud-project)`);
  if (!res.ok) throw new CliError(EXIT.API, `publishing to ${topicPath(t)} on the emulator at ${host} failed: ${res.status} ${text.slice(0, 200).replace(/\s+/g, ' ')}`);
  const id = (JSON.parse(text) as { messageIds?: string[] }).messageIds?.[0];
  if (!id) throw new CliError(EXIT.API, `the Pub/Sub emulator at ${host} answered without a message id`);
  return id;
}

async function publishToPubsub(t: TopicAddress, msg: OutgoingMessage, timeoutMs: number): Promise<string> {
  const { PubSub } = await import('@google-cloud/pubsub');
  const pubsub = new PubSub({ projectId: t.projectId });
  try {
    const topic = pubsub.topic(t.topic, { gaxOpts: { timeout: timeoutMs }, batching: { maxMessages: 1 } });
    return await topic.publishMessage({ data: Buffer.from(msg.data ?? ''), attributes: msg.attributes ?? {} });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const reason = rootCause(err);
    if (code === 5) throw new CliError(EXIT.NOT_FOUND, `no topic ${topicPath(t)} (check --topic / --cloud-project)`);
    if (code === 7 || code === 16 || /default credentials|could not load the default|invalid_grant|unauthenticated/i.test(reason)) {
      throw new CliError(EXIT.AUTH, `Pub/Sub refused to publish to ${topicPath(t)}: ${reason} (run \`gcloud auth application-default login\`, and check roles/pubsub.publisher)`);
    }
    throw new CliError(EXIT.API, `publishing to ${topicPath(t)} failed: ${reason}`);
  } finally {
    await pubsub.close().catch(() => undefined);
  }
}
