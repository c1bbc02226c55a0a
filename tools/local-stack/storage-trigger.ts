/**
 * Stand-in for a Cloud Storage bucket with an Eventarc trigger on
 * `google.cloud.storage.object.v1.finalized`: "uploading" an object (no bytes are kept)
 * emits the finalized CloudEvent to onObjectFinalized in binary mode, with the object
 * metadata Cloud Storage sends as data, redelivered on failure like any push (same
 * relay, an in-process queue). `POST /finalize {"bucket","name","contentType"?}` does
 * the same over HTTP.
 */
import { createServer, type Server } from 'node:http';
import { MemoryBroker, type PubsubMessage } from './broker.ts';
import { startPushRelay, type DeadLetter, type DeliveryReport, type PushFormat, type PushRelay } from './push-relay.ts';

export interface FinalizedObject {
  bucket: string;
  name: string;
  generation: string;
  contentType: string | null;
  size: string;
}

export const OBJECT_FINALIZED = 'google.cloud.storage.object.v1.finalized';
const TOPIC = 'storage-object-finalized';

/** Eventarc's request for a Cloud Storage event: ce-* headers, the object resource as JSON. */
export const storageFinalizedFormat: PushFormat = (msg: PubsubMessage) => {
  const obj = JSON.parse(Buffer.from(msg.data ?? '', 'base64').toString('utf8')) as { bucket: string; name: string; timeCreated: string };
  return {
    headers: {
      'content-type': 'application/json',
      'ce-specversion': '1.0',
      'ce-id': msg.messageId,
      'ce-type': OBJECT_FINALIZED,
      'ce-source': `//storage.googleapis.com/projects/_/buckets/${obj.bucket}`,
      'ce-subject': `objects/${obj.name}`,
      'ce-time': obj.timeCreated,
    },
    body: Buffer.from(msg.data ?? '', 'base64').toString('utf8'),
  };
};

export interface StorageTrigger {
  readonly relay: PushRelay;
  readonly server: Server;
  /** "Uploads" an object: a new generation, and its finalized event on the way to the function. */
  finalize(o: { bucket: string; name: string; contentType?: string; size?: number }): Promise<FinalizedObject>;
  stop(): Promise<void>;
}

export async function createStorageTrigger(o: {
  target: string;
  relay: { maxAttempts: number; minBackoffMs: number; maxBackoffMs: number };
  deadLetter: (dl: DeadLetter) => Promise<void>;
  onDelivery?: (r: DeliveryReport) => void;
}): Promise<StorageTrigger> {
  const queue = new MemoryBroker('_');
  await queue.ensureTopic(TOPIC);
  await queue.ensureSubscription('eventarc-on-object-finalized', TOPIC, 60);
  const relay = startPushRelay({
    subscription: queue.subscription('eventarc-on-object-finalized'),
    target: o.target,
    format: storageFinalizedFormat,
    ...o.relay,
    deadLetter: o.deadLetter,
    ...(o.onDelivery ? { onDelivery: o.onDelivery } : {}),
  });
  let lastGeneration = 0;

  async function finalize(f: { bucket: string; name: string; contentType?: string; size?: number }): Promise<FinalizedObject> {
    // Generations are microsecond timestamps, distinct for each write of a name.
    lastGeneration = Math.max(lastGeneration + 1, Date.now() * 1000);
    const now = new Date().toISOString();
    const obj = {
      kind: 'storage#object',
      id: `${f.bucket}/${f.name}/${lastGeneration}`,
      selfLink: `https://www.googleapis.com/storage/v1/b/${f.bucket}/o/${encodeURIComponent(f.name)}`,
      name: f.name,
      bucket: f.bucket,
      generation: String(lastGeneration),
      metageneration: '1',
      contentType: f.contentType ?? 'application/octet-stream',
      timeCreated: now,
      updated: now,
      storageClass: 'STANDARD',
      timeStorageClassUpdated: now,
      size: String(f.size ?? 0),
      crc32c: 'AAAAAA==',
      etag: 'CAE=',
    };
    await queue.publish(TOPIC, { data: JSON.stringify(obj) });
    return { bucket: obj.bucket, name: obj.name, generation: obj.generation, contentType: obj.contentType, size: obj.size };
  }

  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      void (async () => {
        if (req.method !== 'POST' || !(req.url ?? '').startsWith('/finalize')) {
          res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'POST /finalize {"bucket":"…","name":"…","contentType":"image/tiff"}' }));
          return;
        }
        try {
          const body = JSON.parse(raw) as { bucket?: unknown; name?: unknown; contentType?: unknown; size?: unknown };
          if (typeof body.bucket !== 'string' || typeof body.name !== 'string' || !body.bucket || !body.name) throw new Error('bucket and name are required strings');
          const obj = await finalize({
            bucket: body.bucket,
            name: body.name,
            ...(typeof body.contentType === 'string' ? { contentType: body.contentType } : {}),
            ...(typeof body.size === 'number' ? { size: body.size } : {}),
          });
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(obj));
        } catch (err) {
          res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: (err as Error).message }));
        }
      })();
    });
  });

  return {
    relay,
    server,
    finalize,
    async stop() {
      await relay.stop();
    },
  };
}
