/**
 * deliverWebhook reads events back from the events topic's push: every eeport event
 * parses (the core decides which call back); only what is not an eeport CloudEvent is
 * refused. A batch's final event, in particular, reaches the core and is delivered.
 */
import { describe, expect, it } from 'vitest';
import { eventFromPush } from '../../functions/src/adapters/event-message.ts';

const push = (json: unknown) => ({ message: { data: Buffer.from(typeof json === 'string' ? json : JSON.stringify(json)).toString('base64') } });
const ce = (type: string, data: Record<string, unknown>) => ({
  specversion: '1.0',
  id: 'e-1',
  source: '//eeport/test',
  type,
  subject: 's',
  time: '2026-12-02T00:00:00Z',
  datacontenttype: 'application/json',
  data,
});

describe('eventFromPush', () => {
  it.each([
    ['a job event', ce('dev.eeport.export.v1.succeeded', { jobId: 'j', state: 'SUCCEEDED', callbackUrl: 'https://example.com/h' })],
    ['a batch’s final event', ce('dev.eeport.batch.v1.succeeded', { batchId: 'b', state: 'SUCCEEDED', total: 3, callbackUrl: 'https://example.com/h' })],
    ['a budget event', ce('dev.eeport.budget.v1.exceeded', { budgetId: 'p', month: '2026-12' })],
    ['a chain event', ce('dev.eeport.chain.v1.completed', { chainId: 'c' })],
  ])('%s parses, data intact', (_what, event) => {
    const r = eventFromPush(push(event));
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.event.data).toEqual(event.data);
  });

  it.each([
    ['no message data', { message: {} }, /not a Pub\/Sub push/],
    ['data that is not JSON', push('not json'), /not JSON/],
    ['JSON that is not a CloudEvent', push({ hello: 'world' }), /not an eeport CloudEvent/],
    ['a CloudEvent without object data', push({ ...ce('x', {}), data: 'text' }), /not an eeport CloudEvent: data/],
  ])('%s is refused with the reason', (_what, body, reason) => {
    const r = eventFromPush(body);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });
});
