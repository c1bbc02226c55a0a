/**
 * Reads the object out of a `google.cloud.storage.object.v1.finalized` CloudEvent
 * (Eventarc delivers it in binary mode: ce-* headers, the object metadata as JSON
 * data). Only what routing and identity need is parsed; the rest of the metadata
 * (size, md5Hash, timeCreated, …) is allowed and ignored. Anything else comes back
 * as `unusable` with the reasons, so it is logged rather than dropped silently.
 */
import { z } from 'zod';
import type { ObjectEvent } from '../core/uploads/index.ts';

export const OBJECT_FINALIZED_TYPE = 'google.cloud.storage.object.v1.finalized';

/** int64 in JSON: Cloud Storage sends a decimal string; a number is accepted while exact. */
const Generation = z.union([z.string().regex(/^\d{1,19}$/, 'must be a decimal int64'), z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)]).transform(String);

const StorageObjectDataSchema = z.looseObject({
  bucket: z.string().min(1),
  name: z.string().min(1),
  generation: Generation,
  contentType: z.string().optional(),
});

export interface StorageCloudEvent {
  id: string;
  type: string;
  source: string;
  subject?: string | undefined;
  data?: unknown;
}

const PREVIEW_CHARS = 1024;

/** Data as sent: the framework parses JSON bodies, but text or bytes may still arrive. */
function decode(data: unknown): unknown {
  const text = typeof data === 'string' ? data : data instanceof Uint8Array ? Buffer.from(data).toString('utf8') : undefined;
  if (text === undefined) return data;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function preview(data: unknown): string | null {
  if (data === undefined) return null;
  const text = typeof data === 'string' ? data : JSON.stringify(data) ?? String(data);
  return text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text;
}

export function objectEventFromCloudEvent(event: StorageCloudEvent): ObjectEvent {
  const data = decode(event.data);
  const unusable = (problems: string[]): ObjectEvent => ({
    kind: 'unusable',
    eventId: event.id,
    type: event.type,
    source: event.source,
    subject: event.subject ?? null,
    problems,
    preview: preview(data),
  });
  if (event.type !== OBJECT_FINALIZED_TYPE) return unusable([`event type is "${event.type}", expected ${OBJECT_FINALIZED_TYPE} (check the trigger's event filter)`]);
  const parsed = StorageObjectDataSchema.safeParse(data);
  if (!parsed.success) return unusable(parsed.error.issues.map((i) => `data${i.path.map((p) => `.${String(p)}`).join('')}: ${i.message}`));
  const { bucket, name, generation, contentType } = parsed.data;
  return { kind: 'finalized', object: { bucket, name, generation, contentType: contentType ?? null } };
}
