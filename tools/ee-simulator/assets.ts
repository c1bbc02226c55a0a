/**
 * Image collections, for `projects.assets.listImages`: a test (or `POST /_sim/assets/images`)
 * adds images with their `system:time_start` (startTime) and the simulator lists them the
 * way the REST API does — `GET /v1/projects/{p}/assets/{collection}:listImages` with
 * optional `startTime` (inclusive) and `endTime` (exclusive) filters, oldest first, paged.
 *
 * Names: a collection is `projects/{project}/assets/{path}`; a legacy id such as
 * `LANDSAT/LC09/C02/T1_L2` is the public catalog's `projects/earthengine-public/assets/…`.
 */
import { z } from 'zod';
import { ApiError, badRequest, invalidField } from './errors.ts';

export const simImageSchema = z
  .object({
    /** The image's id within the collection (the last path segment), or its full asset id. */
    id: z.string().min(1).max(500),
    /** system:time_start (RFC 3339). */
    startTime: z.iso.datetime({ offset: true }),
    /** system:time_end; default startTime. */
    endTime: z.iso.datetime({ offset: true }).optional(),
    properties: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type SimImage = z.input<typeof simImageSchema>;

export const addImagesSchema = z.object({ collection: z.string().min(1), images: z.array(simImageSchema).max(10_000) }).strict();

/** The REST Image resource, as listImages answers it. */
export interface ImageResource {
  type: 'IMAGE';
  name: string;
  id: string;
  startTime: string;
  endTime: string;
  updateTime: string;
  properties?: Record<string, unknown>;
}

/** `projects/p/assets/x` as is; a legacy id under the public catalog. */
export function assetName(collection: string): string {
  const c = collection.replace(/^\/+|\/+$/g, '');
  return c.startsWith('projects/') ? c : `projects/earthengine-public/assets/${c}`;
}

/** The legacy id of an asset name (what `id` holds): the path after `assets/` for the public catalog, the whole name otherwise. */
function legacyId(name: string): string {
  const m = /^projects\/earthengine-public\/assets\/(.+)$/.exec(name);
  return m ? m[1]! : name;
}

const toMs = (s: string) => Date.parse(s);
const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.000Z$/, 'Z');

export class AssetCatalog {
  private collections = new Map<string, Map<string, ImageResource>>();

  constructor(private readonly now: () => number) {}

  /** Adds (or replaces, by id) images of a collection; creates the collection. Returns how many it holds. */
  add(collection: string, images: readonly SimImage[]): number {
    const name = assetName(collection);
    let c = this.collections.get(name);
    if (!c) this.collections.set(name, (c = new Map()));
    for (const raw of images) {
      const img = simImageSchema.parse(raw);
      const imageName = img.id.includes('/') ? assetName(img.id) : `${name}/${img.id}`;
      const start = toMs(img.startTime);
      c.set(imageName, {
        type: 'IMAGE',
        name: imageName,
        id: legacyId(imageName),
        startTime: rfc3339(start),
        endTime: rfc3339(img.endTime ? toMs(img.endTime) : start),
        updateTime: rfc3339(this.now()),
        ...(img.properties ? { properties: img.properties } : {}),
      });
    }
    return c.size;
  }

  /** Collection names and their image counts. */
  summary(): Array<{ collection: string; images: number }> {
    return [...this.collections].map(([collection, c]) => ({ collection, images: c.size }));
  }

  reset(): void {
    this.collections.clear();
  }

  /** `projects.assets.listImages`. */
  listImages(name: string, query: URLSearchParams, maxPageSize: number): { images?: ImageResource[]; nextPageToken?: string } {
    const c = this.collections.get(name);
    if (!c) throw new ApiError('NOT_FOUND', `Asset '${name}' not found (or you do not have access to it).`);
    const time = (field: 'startTime' | 'endTime') => {
      const raw = query.get(field);
      if (raw === null || raw === '') return null;
      const ms = Date.parse(raw);
      if (!Number.isFinite(ms)) throw invalidField(field, `Invalid value at '${field}' (type.googleapis.com/google.protobuf.Timestamp), Field '${field}', Invalid time format: ${raw}`);
      return ms;
    };
    const start = time('startTime');
    const end = time('endTime');
    const rawSize = query.get('pageSize');
    let pageSize = maxPageSize;
    if (rawSize !== null && rawSize !== '') {
      const n = Number(rawSize);
      if (!Number.isInteger(n) || n < 0) throw invalidField('pageSize', `Invalid value at 'pageSize' (TYPE_INT32), "${rawSize}"`);
      pageSize = n === 0 ? maxPageSize : Math.min(n, maxPageSize);
    }
    const filterKey = `${start ?? ''}|${end ?? ''}`;
    let offset = 0;
    const rawToken = query.get('pageToken');
    if (rawToken) {
      let token: { o: number; f: string } | null = null;
      try {
        token = JSON.parse(Buffer.from(rawToken, 'base64url').toString('utf8')) as { o: number; f: string };
      } catch {
        token = null;
      }
      if (!token || typeof token.o !== 'number' || token.f !== filterKey) {
        throw new ApiError('INVALID_ARGUMENT', 'Invalid page token.', { details: [badRequest('pageToken', 'The page token is invalid or belongs to a listing with other filters.')] });
      }
      offset = token.o;
    }
    const matching = [...c.values()]
      .filter((i) => (start === null || toMs(i.startTime) >= start) && (end === null || toMs(i.startTime) < end))
      .sort((a, b) => toMs(a.startTime) - toMs(b.startTime) || a.name.localeCompare(b.name));
    const page = matching.slice(offset, offset + pageSize);
    // proto3 JSON omits empty fields: an empty listing is `{}`.
    const out: { images?: ImageResource[]; nextPageToken?: string } = {};
    if (page.length) out.images = page.map((i) => structuredClone(i));
    if (offset + pageSize < matching.length) out.nextPageToken = Buffer.from(JSON.stringify({ o: offset + pageSize, f: filterKey })).toString('base64url');
    return out;
  }
}
