/** GET /v1/chains: one page of chains, newest first, paged by token; a tenant's caller sees only its own; bad parameters say why. */
import { describe, expect, it } from 'vitest';
import { createChainRoutes } from '../../functions/src/core/chains/chain-routes.ts';
import { ADMIN_SCOPE, tenantScope } from '../../functions/src/core/tenants/index.ts';
import type { Chain } from '../../functions/src/core/chains/index.ts';
import { MemoryStore } from '../fakes/memory-store.ts';

function chain(i: number, tenantId: string | null): Chain {
  const id = i.toString(16).padStart(32, '0');
  const at = `2026-05-0${i}T00:00:00.000Z`;
  return {
    chainId: id,
    tenantId,
    state: i % 2 ? 'ACTIVE' : 'SUCCEEDED',
    steps: [
      { step: 'root', after: [], kind: 'job', id, request: null, eeProject: 'p', labels: {}, state: 'SUCCEEDED', reason: null, outputs: null, endTime: at },
      { step: 'cog', after: ['root'], kind: 'job', id: `c${id.slice(1)}`, request: { description: 'x' }, eeProject: 'p', labels: {}, state: i % 2 ? 'ACTIVE' : 'SKIPPED', reason: i % 2 ? null : 'root failed', outputs: null, endTime: null },
    ],
    callbackUrl: null,
    dueAt: null,
    createTime: at,
    updateTime: at,
    endTime: i % 2 ? null : at,
    version: 1,
  };
}

async function setup() {
  const store = new MemoryStore();
  await store.transact(async (tx) => {
    for (let i = 1; i <= 5; i++) tx.setChain(chain(i, i === 3 ? 'acme' : null));
  });
  const routes = createChainRoutes({ store });
  const get = async (query = '', scope = ADMIN_SCOPE, method = 'GET') => (await routes.handle({ method, path: '/v1/chains', query: new URLSearchParams(query) }, undefined, scope))!;
  return { get };
}

describe('GET /v1/chains', () => {
  it('lists chains newest first, with their steps’ states as stored, page by page', async () => {
    const { get } = await setup();
    const first = await get('pageSize=2');
    expect(first.status).toBe(200);
    const body = first.body as { chains: Array<{ chainId: string; state: string; steps: Array<{ step: string; state: string; reason: string | null }>; url: string }>; nextPageToken: string | null };
    expect(body.chains.map((c) => c.chainId.slice(-1))).toEqual(['5', '4']);
    expect(body.chains[1]).toMatchObject({ state: 'SUCCEEDED', url: `/v1/chains/${'4'.padStart(32, '0')}`, steps: [{ step: 'root', state: 'SUCCEEDED' }, { step: 'cog', state: 'SKIPPED', reason: 'root failed' }] });
    expect(body.chains[0]).not.toHaveProperty('steps.0.request');
    const ids: string[] = body.chains.map((c) => c.chainId);
    let token = body.nextPageToken;
    while (token) {
      const page = (await get(`pageSize=2&pageToken=${encodeURIComponent(token)}`)).body as typeof body;
      ids.push(...page.chains.map((c) => c.chainId));
      token = page.nextPageToken;
    }
    expect(ids.map((id) => id.slice(-1))).toEqual(['5', '4', '3', '2', '1']);
  });

  it('a tenant’s caller sees only its tenant’s chains; the untenanted scope only untenanted ones', async () => {
    const { get } = await setup();
    const acme = (await get('', tenantScope('acme'))).body as { chains: Array<{ chainId: string; tenantId: string | null }> };
    expect(acme.chains.map((c) => c.tenantId)).toEqual(['acme']);
    const none = (await get('', tenantScope(null))).body as { chains: Array<{ tenantId: string | null }> };
    expect(none.chains).toHaveLength(4);
    expect(none.chains.every((c) => c.tenantId === null)).toBe(true);
  });

  it('refuses a bad pageSize, a bad pageToken, an unknown parameter and other methods, saying why', async () => {
    const { get } = await setup();
    for (const q of ['pageSize=0', 'pageSize=201', 'pageSize=x', 'pageToken=-3', 'state=ACTIVE']) {
      const r = await get(q);
      expect(r.status, q).toBe(400);
      expect(r.body).toMatchObject({ error: { code: 'API.INVALID_PARAMETER', details: [{ path: q.split('=')[0] }] } });
    }
    expect((await get('', ADMIN_SCOPE, 'POST')).status).toBe(405);
  });
});
