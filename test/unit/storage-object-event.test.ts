import { describe, it, expect } from 'vitest';
import { OBJECT_FINALIZED_TYPE, objectEventFromCloudEvent } from '../../functions/src/adapters/storage-object-event.ts';

const event = (data: unknown, over: Record<string, unknown> = {}) => ({
  id: '1234567890',
  type: OBJECT_FINALIZED_TYPE,
  source: '//storage.googleapis.com/projects/_/buckets/my-uploads',
  subject: 'objects/incoming/a.tif',
  data,
  ...over,
});

/** What Cloud Storage sends (StorageObjectData as JSON: int64 fields as strings). */
const metadata = {
  kind: 'storage#object',
  id: 'my-uploads/incoming/a.tif/1718000000000000',
  selfLink: 'https://www.googleapis.com/storage/v1/b/my-uploads/o/incoming%2Fa.tif',
  name: 'incoming/a.tif',
  bucket: 'my-uploads',
  generation: '1718000000000000',
  metageneration: '1',
  contentType: 'image/tiff',
  timeCreated: '2026-11-27T21:00:00.000Z',
  updated: '2026-11-27T21:00:00.000Z',
  storageClass: 'STANDARD',
  size: '1048576',
  md5Hash: 'abc==',
  crc32c: 'xyz==',
  etag: 'CJ…',
  metadata: { team: 'forest' },
};

describe('objectEventFromCloudEvent', () => {
  it('reads bucket, name, generation and content type; ignores the rest of the metadata', () => {
    expect(objectEventFromCloudEvent(event(metadata))).toEqual({
      kind: 'finalized',
      object: { bucket: 'my-uploads', name: 'incoming/a.tif', generation: '1718000000000000', contentType: 'image/tiff' },
    });
  });

  it.each([
    ['a numeric generation', { ...metadata, generation: 1718000000000000 }, '1718000000000000'],
    ['JSON text', JSON.stringify(metadata), '1718000000000000'],
    ['JSON bytes', Buffer.from(JSON.stringify(metadata)), '1718000000000000'],
  ])('accepts %s', (_what, data, generation) => {
    const out = objectEventFromCloudEvent(event(data));
    expect(out.kind === 'finalized' && out.object.generation).toBe(generation);
  });

  it('no content type → null', () => {
    const { contentType: _c, ...rest } = metadata;
    const out = objectEventFromCloudEvent(event(rest));
    expect(out.kind === 'finalized' && out.object.contentType).toBeNull();
  });

  // [what, data, event overrides, problem]
  const UNUSABLE: [string, unknown, Record<string, unknown>, RegExp][] = [
    ['another event type', metadata, { type: 'google.cloud.storage.object.v1.deleted' }, /event type is "google\.cloud\.storage\.object\.v1\.deleted"/],
    ['no data', undefined, {}, /data/],
    ['not JSON', 'hello', {}, /data/],
    ['an array', [metadata], {}, /data/],
    ['no generation', { ...metadata, generation: undefined }, {}, /data\.generation/],
    ['a non-numeric generation', { ...metadata, generation: 'abc' }, {}, /data\.generation/],
    ['a negative generation', { ...metadata, generation: -1 }, {}, /data\.generation/],
    ['an empty name', { ...metadata, name: '' }, {}, /data\.name/],
    ['no bucket', { ...metadata, bucket: undefined }, {}, /data\.bucket/],
    ['a content type that is not a string', { ...metadata, contentType: 5 }, {}, /data\.contentType/],
  ];

  it.each(UNUSABLE)('%s → unusable, with the reasons and what arrived', (_what, data, over, problem) => {
    const out = objectEventFromCloudEvent(event(data, over));
    expect(out.kind).toBe('unusable');
    if (out.kind !== 'unusable') return;
    expect(out.problems.join('; ')).toMatch(problem);
    expect(out).toMatchObject({ eventId: '1234567890', source: '//storage.googleapis.com/projects/_/buckets/my-uploads', subject: 'objects/incoming/a.tif' });
    if (data !== undefined) expect(out.preview).toBeTruthy();
  });

  it('keeps the preview short', () => {
    const out = objectEventFromCloudEvent(event({ junk: 'x'.repeat(10_000) }));
    expect(out.kind === 'unusable' && out.preview!.length).toBeLessThan(1100);
  });
});
