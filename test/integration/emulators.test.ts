import { describe, it, expect, beforeEach } from 'vitest';
import { emulatorsOrSkip } from '../harness/emulators.ts';

const emu = emulatorsOrSkip('emulator harness');

describe.skipIf(!emu)('emulator harness', () => {
  beforeEach(async () => {
    await emu!.clear();
  });

  it('serves Firestore documents and clears them between tests', async () => {
    const base = `http://${emu!.firestoreHost}/v1/projects/${emu!.projectId}/databases/(default)/documents`;
    const created = await fetch(`${base}/probe?documentId=a`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer owner' },
      body: JSON.stringify({ fields: { n: { integerValue: '1' } } }),
    });
    expect(created.status).toBe(200);
    await emu!.clear();
    const after = await fetch(`${base}/probe/a`, { headers: { authorization: 'Bearer owner' } });
    expect(after.status).toBe(404);
  });

  it('serves Pub/Sub topics scoped to this file', async () => {
    const res = await fetch(`http://${emu!.pubsubHost}/v1/projects/${emu!.projectId}/topics/probe-topic`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(200);
    await emu!.clear();
    const list = (await (await fetch(`http://${emu!.pubsubHost}/v1/projects/${emu!.projectId}/topics`)).json()) as { topics?: unknown[] };
    expect(list.topics ?? []).toHaveLength(0);
  });
});
