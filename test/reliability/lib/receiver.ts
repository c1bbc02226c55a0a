/** A webhook receiver on 127.0.0.1 that records every call and answers from a script per path. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedCall {
  path: string;
  webhookId: string;
  body: string;
  status: number;
}

export class Receiver {
  calls: ReceivedCall[] = [];
  /** Status codes to answer per path, in order; afterwards 200. */
  answers = new Map<string, number[]>();
  private server: Server | undefined;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const path = req.url ?? '/';
        const status = this.answers.get(path)?.shift() ?? 200;
        this.calls.push({ path, webhookId: String(req.headers['webhook-id'] ?? ''), body, status });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  reset(): void {
    this.calls = [];
    this.answers.clear();
  }

  callsTo(path: string): ReceivedCall[] {
    return this.calls.filter((c) => c.path === path);
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise((r) => this.server!.close(r));
  }
}
