import { describe, it, expect } from 'vitest';
import { asyncApiDocument } from '../../tools/asyncapi.ts';
import { EVENT_TYPES } from '../../functions/src/core/jobs/events.ts';

describe('AsyncAPI document', () => {
  const doc = asyncApiDocument() as Record<string, unknown>;

  it('is AsyncAPI 3 with the requests and events channels', () => {
    expect(doc.asyncapi).toBe('3.0.0');
    expect(Object.keys(doc.channels as object)).toEqual(['requests', 'events']);
  });

  // Refs inside the embedded JSON Schemas (#/$defs/…) resolve against their own $id, not this document.
  it('every document-level $ref resolves', () => {
    const refs: string[] = [];
    JSON.stringify(doc, (k, v: unknown) => {
      if (k === '$ref' && typeof v === 'string' && /^#\/(components|channels)\//.test(v)) refs.push(v);
      return v;
    });
    expect(refs.length).toBeGreaterThan(5);
    for (const ref of refs) {
      const target = ref
        .slice(2)
        .split('/')
        .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], doc);
      expect(target, ref).toBeDefined();
    }
  });

  it('lists every job event type the code emits', () => {
    const types = ((doc.components as { messages: { jobEvent: { payload: { properties: { type: { enum: string[] } } } } } }).messages.jobEvent.payload.properties.type.enum);
    for (const t of EVENT_TYPES) expect(types).toContain(t);
  });

  it('lists tiled recovery’s recovered event, and the recovery it carries', () => {
    const components = doc.components as { messages: { jobEvent: { payload: { properties: { type: { enum: string[] } } } } }; schemas: { JobEventData: { properties: Record<string, { properties?: Record<string, unknown> }> } } };
    expect(components.messages.jobEvent.payload.properties.type.enum).toContain('dev.eeport.export.v1.recovered');
    expect(Object.keys(components.schemas.JobEventData.properties.recovery!.properties!)).toEqual(expect.arrayContaining(['kind', 'batchId', 'tiles', 'depth', 'reason']));
  });

  it('lists the stalled-task watch’s stalled event, and the finding it carries', () => {
    const components = doc.components as { messages: { jobEvent: { payload: { properties: { type: { enum: string[] } } } } }; schemas: { JobEventData: { properties: Record<string, { properties?: Record<string, unknown> }> } } };
    expect(components.messages.jobEvent.payload.properties.type.enum).toContain('dev.eeport.export.v1.stalled');
    expect(Object.keys(components.schemas.JobEventData.properties.stall!.properties!)).toEqual(expect.arrayContaining(['kind', 'elapsedSeconds', 'limitSeconds', 'basis', 'action']));
  });
});
