/**
 * Where the local stack listens. The emulator ports come from firebase.json (the
 * project's one record of them, read by tools/firebase-ports.ts), so `npm start`, the
 * Firebase tooling and the tests agree; the stack's own services take fixed ports next
 * to them. A port that is taken is replaced by a free one, and the substitution is
 * reported.
 */
import type { Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { freePort } from '../emulators/emulators.ts';

/** Ports of the stack's own services (not in firebase.json). */
export const LOCAL_PORTS = { simulator: 8180, webhookReceiver: 8190, storageTrigger: 8191 } as const;

/**
 * Function targets get a port each, counting up from firebase.json's functions port in
 * this order (so a target keeps its port whichever others exist); unknown targets follow.
 */
export const TARGET_ORDER = ['api', 'submitExport', 'pollExports', 'deliverWebhook', 'onObjectFinalized'] as const;

/** The preferred port of each target: consecutive from `base`, skipping ports other services use. */
export function targetPorts(targets: readonly string[], base: number, reserved: ReadonlySet<number>): Map<string, number> {
  const known = TARGET_ORDER as readonly string[];
  const ordered = [...known, ...targets.filter((t) => !known.includes(t)).sort()];
  const out = new Map<string, number>();
  let port = base;
  for (const name of ordered) {
    while (reserved.has(port)) port++;
    if (targets.includes(name)) out.set(name, port);
    port++;
  }
  return out;
}

/** True when nothing listens on 127.0.0.1:port. */
export async function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv: Server = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** Decides the port for a service: the preferred one when free, else a free one (noted). 0 means "any free port". */
export async function choosePort(label: string, preferred: number, notes: string[]): Promise<number> {
  if (preferred === 0) return freePort();
  if (await isPortFree(preferred)) return preferred;
  const p = await freePort();
  notes.push(`${label}: port ${preferred} is taken, using ${p} instead`);
  return p;
}

/** Listens on the preferred port, or on a free one when it is taken (noted). Returns the port. */
export async function listenPreferred(server: HttpServer, label: string, preferred: number, notes: string[]): Promise<number> {
  const attempt = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        server.off('listening', onListening);
        reject(err);
      };
      const onListening = () => {
        server.off('error', onError);
        const addr = server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      };
      server.once('error', onError);
      server.once('listening', onListening);
      server.listen(port, '127.0.0.1');
    });
  if (preferred === 0) return attempt(0);
  try {
    return await attempt(preferred);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    const p = await attempt(0);
    notes.push(`${label}: port ${preferred} is taken, using ${p} instead`);
    return p;
  }
}
