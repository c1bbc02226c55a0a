/**
 * Serves every function target of functions/src/index.ts through the functions
 * framework (the same server a deployed function runs), one port per target as Cloud
 * Run gives each function its own URL.
 *
 * The framework has no public list of registered targets, so the names are read from
 * the entry files index.ts imports (`ff.http('name'` / `ff.cloudEvent('name'`) and
 * each is confirmed registered with getFunction().
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getFunction, getTestServer } from '@google-cloud/functions-framework/testing';
import { listenPreferred } from './ports.ts';

const INDEX = fileURLToPath(new URL('../../functions/src/index.ts', import.meta.url));

export type SignatureType = 'http' | 'cloudevent';

export interface TargetInfo {
  name: string;
  signatureType: SignatureType;
}

/** Targets registered by the entry modules index.ts imports, in import order. Call after importing index.ts. */
export function discoverTargets(indexPath = INDEX): TargetInfo[] {
  const index = readFileSync(indexPath, 'utf8');
  const out: TargetInfo[] = [];
  for (const [, rel] of index.matchAll(/^\s*import\s+['"](\.[^'"]+)['"]/gm)) {
    const source = readFileSync(resolve(dirname(indexPath), rel!), 'utf8');
    for (const [, kind, name] of source.matchAll(/\.\s*(http|cloudEvent)\s*(?:<[^>]*>)?\(\s*['"]([A-Za-z][\w-]*)['"]/g)) {
      if (getFunction(name!) && !out.some((t) => t.name === name)) out.push({ name: name!, signatureType: kind === 'http' ? 'http' : 'cloudevent' });
    }
  }
  return out;
}

export interface ServedTarget extends TargetInfo {
  url: string;
  port: number;
  server: Server;
}

export async function serveTarget(target: TargetInfo, preferredPort: number, notes: string[]): Promise<ServedTarget> {
  const server = getTestServer(target.name);
  const port = await listenPreferred(server, `function ${target.name}`, preferredPort, notes);
  return { ...target, url: `http://127.0.0.1:${port}/`, port, server };
}

export async function closeServer(server: Server): Promise<void> {
  if (!server.listening) return;
  await new Promise<void>((r) => {
    server.close(() => r());
    server.closeAllConnections();
  });
}
