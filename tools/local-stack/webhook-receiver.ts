/**
 * A local webhook endpoint, as a user of eeport would run one: it checks the Standard
 * Webhooks signature with the stack's secret (verifyWebhook, the same code the README
 * points receivers to), answers 204 when it holds and 401 when it does not, and prints
 * what arrived. Any path works, so each caller can use its own (`/hooks/my-job`).
 */
import { createServer, type Server } from 'node:http';
import { verifyWebhook, type VerifyFailure } from '../../functions/src/core/webhooks/index.ts';

export interface ReceivedWebhook {
  path: string;
  webhookId: string | null;
  verified: boolean;
  reason: VerifyFailure | null;
  /** The parsed body (eeport's webhook payload), or null when it was not JSON. */
  payload: { type?: string; id?: string; data?: { jobId?: string; state?: string; description?: string | null; error?: { code?: string; message?: string } | null; destinationUris?: string[] } } | null;
  body: string;
  at: Date;
}

export interface WebhookReceiver {
  readonly server: Server;
  readonly received: ReceivedWebhook[];
  /** Resolves with the first call that satisfies `pred` (already received or future). */
  waitFor(pred: (w: ReceivedWebhook) => boolean, timeoutMs: number): Promise<ReceivedWebhook>;
}

export function createWebhookReceiver(secrets: readonly string[], print: (w: ReceivedWebhook) => void): WebhookReceiver {
  const received: ReceivedWebhook[] = [];
  const waiters = new Set<() => void>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.method !== 'POST') {
        res.writeHead(405, { allow: 'POST' }).end();
        return;
      }
      const check = verifyWebhook({ secrets, headers: req.headers, body });
      let payload: ReceivedWebhook['payload'] = null;
      try {
        payload = JSON.parse(body) as ReceivedWebhook['payload'];
      } catch {
        /* printed as not JSON */
      }
      const w: ReceivedWebhook = {
        path: req.url ?? '/',
        webhookId: typeof req.headers['webhook-id'] === 'string' ? req.headers['webhook-id'] : null,
        verified: check.ok,
        reason: check.ok ? null : check.reason,
        payload,
        body,
        at: new Date(),
      };
      received.push(w);
      print(w);
      res.writeHead(check.ok ? 204 : 401).end();
      for (const wake of waiters) wake();
    });
  });
  return {
    server,
    received,
    waitFor(pred, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = received.find(pred);
          if (!hit) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching webhook within ${timeoutMs} ms`));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
  };
}

/** One line for the console. */
export function describeWebhook(w: ReceivedWebhook): string {
  const type = w.payload?.type?.replace('dev.eeport.export.v1.', '') ?? '(not JSON)';
  const job = w.payload?.data?.jobId?.slice(0, 8) ?? '?';
  const sig = w.verified ? 'signature verified ✓' : `signature REJECTED (${w.reason}) → 401`;
  return `POST ${w.path}  ${type}  job ${job}  ${w.webhookId ?? '(no webhook-id)'}  ${sig}`;
}
