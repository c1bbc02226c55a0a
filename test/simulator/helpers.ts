/** Shared test helpers: an HTTP caller with a bearer token and realistic export bodies. */
import { randomUUID } from 'node:crypto';
import type { Operation, Simulator } from '../../tools/ee-simulator/index.ts';
import { jsClientRequest, selectExpression } from '../../tools/samples/export-requests.ts';

export const PROJECT = 'test-project';
export const TOKEN = 'test-token';

export interface Reply<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

export interface GoogleErrorBody {
  error: { code: number; message: string; status: string; details: Array<Record<string, unknown>> };
}

/** Calls the simulator; `token: null` sends no Authorization header. */
export async function call<T = unknown>(
  sim: Simulator,
  method: string,
  path: string,
  body?: unknown,
  opts: { token?: string | null } = {},
): Promise<Reply<T>> {
  const token = opts.token === undefined ? TOKEN : opts.token;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== null) headers['authorization'] = `Bearer ${token}`;
  const res = await fetch(`${sim.url}${path}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, headers: res.headers };
}

export const opPath = (op: { name: string }): string => `/v1/${op.name}`;

/** The expression the official JS client posts for ee.Image(id).select(['B4']) at scale 30 (reference doc). */
export function referenceExpression(assetId = 'projects/p/assets/a'): Record<string, unknown> {
  return selectExpression(assetId, ['B4'], 30);
}

/** A valid Cloud Storage export body; `overrides` replace top-level fields (undefined deletes). */
export function exportBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const body: Record<string, unknown> = { ...jsClientRequest(), requestId: randomUUID() };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete body[k];
    else body[k] = v;
  }
  return body;
}

export async function submit(sim: Simulator, overrides: Record<string, unknown> = {}, project = PROJECT): Promise<Operation> {
  const r = await call<Operation>(sim, 'POST', `/v1/projects/${project}/image:export`, exportBody(overrides));
  if (r.status !== 200) throw new Error(`export failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

export async function getOp(sim: Simulator, op: { name: string }): Promise<Operation> {
  const r = await call<Operation>(sim, 'GET', opPath(op));
  if (r.status !== 200) throw new Error(`get failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

export const states = (sim: Simulator): string[] => sim.tasks().map((t) => t.state);
