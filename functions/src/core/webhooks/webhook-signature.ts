/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): HMAC-SHA256 with the
 * secret's bytes (base64 after `whsec_`) over `{id}.{timestamp}.{body}`, sent as
 * `v1,<base64>`. Several signatures travel space-separated so a secret can be rotated:
 * while two secrets are active every message is signed with both, and a receiver that
 * knows either accepts it. Pure apart from node:crypto; the clock is a parameter.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const SECRET_PREFIX = 'whsec_';
/** The scheme asks for 24–64 byte secrets; below 16 bytes (128 bits) is refused outright. */
const MIN_SECRET_BYTES = 16;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export interface WebhookHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/** Decodes `whsec_<base64>` into the HMAC key. Throws with a message that says what is wrong (never the secret). */
export function parseSecret(secret: string): Buffer {
  if (!secret.startsWith(SECRET_PREFIX)) {
    throw new Error(`Webhook secret must start with "${SECRET_PREFIX}"`);
  }
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (encoded.length === 0 || !BASE64.test(encoded)) {
    throw new Error(`Webhook secret must be "${SECRET_PREFIX}" followed by standard base64`);
  }
  const key = Buffer.from(encoded, 'base64');
  if (key.length < MIN_SECRET_BYTES) {
    throw new Error(`Webhook secret is ${key.length} bytes; at least ${MIN_SECRET_BYTES} are required`);
  }
  return key;
}

/** A fresh 32-byte secret in the `whsec_` form. */
export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

function signatureOf(key: Buffer, id: string, timestamp: number, body: string): string {
  return createHmac('sha256', key).update(`${id}.${timestamp}.${body}`, 'utf8').digest('base64');
}

export interface SignWebhookInput {
  /** Every active secret (`whsec_…`); one `v1,` signature is produced per secret, in this order. */
  secrets: readonly string[];
  /** The message id, stable across retries of the same message (receivers deduplicate on it). */
  id: string;
  /** Unix seconds of this attempt. */
  timestamp: number;
  /** The exact bytes that will be sent, as a string. */
  body: string;
}

export function signWebhook({ secrets, id, timestamp, body }: SignWebhookInput): WebhookHeaders {
  if (secrets.length === 0) throw new Error('signWebhook needs at least one secret');
  if (id.length === 0 || /[\s.]/.test(id)) throw new Error('Webhook id must be non-empty, without dots or whitespace');
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new Error('Webhook timestamp must be whole unix seconds');
  const signatures = secrets.map((s) => `v1,${signatureOf(parseSecret(s), id, timestamp, body)}`);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signatures.join(' '),
  };
}

export type VerifyFailure =
  | 'missing-headers'
  | 'invalid-timestamp'
  | 'timestamp-too-old'
  | 'timestamp-too-new'
  | 'no-matching-signature';

export type VerifyResult = { ok: true } | { ok: false; reason: VerifyFailure };

export interface VerifyWebhookInput {
  secrets: readonly string[];
  /** Request headers; names are matched case-insensitively, repeated headers use the first value. */
  headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  body: string;
  /** Unix seconds; defaults to the current time. */
  now?: number;
  toleranceSeconds?: number;
}

function header(headers: VerifyWebhookInput['headers'], name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name) continue;
    const first = typeof value === 'string' ? value : value?.[0];
    if (first !== undefined && first !== '') return first;
  }
  return undefined;
}

/** Equal-length byte comparison in constant time; different lengths are simply unequal. */
function sameSignature(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The receiving side, for eeport's own tests and for users who want a reference: accepts
 * when the timestamp is within the tolerance and any `v1` signature matches any secret.
 */
export function verifyWebhook({
  secrets,
  headers,
  body,
  now = Math.floor(Date.now() / 1000),
  toleranceSeconds = 300,
}: VerifyWebhookInput): VerifyResult {
  const id = header(headers, 'webhook-id');
  const timestampHeader = header(headers, 'webhook-timestamp');
  const signatureHeader = header(headers, 'webhook-signature');
  if (id === undefined || timestampHeader === undefined || signatureHeader === undefined) {
    return { ok: false, reason: 'missing-headers' };
  }
  if (!/^\d{1,15}$/.test(timestampHeader)) return { ok: false, reason: 'invalid-timestamp' };
  const timestamp = Number(timestampHeader);
  if (now - timestamp > toleranceSeconds) return { ok: false, reason: 'timestamp-too-old' };
  if (timestamp - now > toleranceSeconds) return { ok: false, reason: 'timestamp-too-new' };

  const offered = signatureHeader
    .split(' ')
    .filter((s) => s.startsWith('v1,'))
    .map((s) => s.slice(3));
  let matched = false;
  for (const secret of secrets) {
    const expected = signatureOf(parseSecret(secret), id, timestamp, body);
    // No early exit, so timing does not reveal which signature or secret matched.
    for (const candidate of offered) matched = sameSignature(candidate, expected) || matched;
  }
  return matched ? { ok: true } : { ok: false, reason: 'no-matching-signature' };
}

/**
 * Delays before each delivery attempt, as in the scheme's reference service: the first
 * attempt immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h — eight attempts
 * spread over about 27.5 hours.
 */
export const WEBHOOK_RETRY_SCHEDULE_MS: readonly number[] = Object.freeze([
  0,
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3_600_000,
  5 * 3_600_000,
  10 * 3_600_000,
  10 * 3_600_000,
]);

/** Each delay is moved by up to ±10 %, so endpoints that failed together are not retried in lockstep. */
export const WEBHOOK_RETRY_JITTER = 0.1;

/**
 * The delay before the next attempt, given how many attempts were already made
 * (0 → the first delivery, normally immediate). `null` once the schedule is exhausted:
 * the message has failed for good. `random` returns [0, 1) like Math.random; the
 * result is `schedule[attempt] × (1 ± 10 %)`, rounded to a whole millisecond.
 */
export function nextRetryDelayMs(
  attempt: number,
  schedule: readonly number[] = WEBHOOK_RETRY_SCHEDULE_MS,
  random: () => number = Math.random,
): number | null {
  if (!Number.isInteger(attempt) || attempt < 0) throw new Error('attempt must be a whole number ≥ 0');
  const base = schedule[attempt];
  if (base === undefined) return null;
  const factor = 1 + (2 * random() - 1) * WEBHOOK_RETRY_JITTER;
  return Math.max(0, Math.round(base * factor));
}
