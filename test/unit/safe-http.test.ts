// Every request in this file goes to a server on 127.0.0.1; resolvers are injected, so
// no test name is ever looked up in real DNS and nothing leaves the machine.
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import {
  CallbackNetworkError,
  CallbackRefusedError,
  createSafeHttpClient,
  type ResolveHost,
} from '../../functions/src/adapters/safe-http.ts';

interface Seen {
  method: string;
  url: string;
  host: string | undefined;
  body: string;
  /** The address the client connected to, as the server saw it. */
  localAddress: string | undefined;
  headers: http.IncomingHttpHeaders;
}

interface TestServer {
  port: number;
  seen: Seen[];
  close(): Promise<void>;
}

async function startServer(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<TestServer> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        host: req.headers.host,
        body,
        localAddress: req.socket.localAddress,
        headers: req.headers,
      });
      handler(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A resolver that answers from a script (one answer list per call, the last one repeating) and counts calls. */
function scriptedResolver(...answers: string[][]): ResolveHost & { calls: string[] } {
  const calls: string[] = [];
  const resolve = async (hostname: string) => {
    calls.push(hostname);
    const list = answers[Math.min(calls.length - 1, answers.length - 1)] ?? [];
    return list.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return Object.assign(resolve, { calls });
}

const noDns: ResolveHost = async (hostname) => {
  throw new Error(`unexpected resolution of ${hostname}`);
};

const LOCAL = { allowHttp: true, allowLoopback: true } as const;

let servers: TestServer[] = [];
beforeEach(() => {
  servers = [];
});
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
});
async function server(handler: Parameters<typeof startServer>[0]) {
  const s = await startServer(handler);
  servers.push(s);
  return s;
}

describe('safe-http against a loopback server', () => {
  it('returns a 2xx with its latency, sending the body and headers as given', async () => {
    const target = await server((_req, res) => res.writeHead(204).end());
    const client = createSafeHttpClient({ ...LOCAL, lookup: noDns });
    const body = '{"type":"eeport.export.v1.succeeded"}';
    const result = await client.post(`http://127.0.0.1:${target.port}/hook?x=1`, body, {
      'content-type': 'application/json',
      'webhook-id': 'msg_1',
      host: 'evil.example',
    });
    expect(result.status).toBe(204);
    expect(result.address).toBe('127.0.0.1');
    expect(result.latencyMs).toBeGreaterThanOrEqual(0);
    expect(result.latencyMs).toBeLessThan(5_000);
    expect(target.seen).toHaveLength(1);
    expect(target.seen[0]).toMatchObject({ method: 'POST', url: '/hook?x=1', body, host: `127.0.0.1:${target.port}` });
    expect(target.seen[0]?.headers).toMatchObject({ 'content-type': 'application/json', 'webhook-id': 'msg_1' });
  });

  it('returns a 302 as 302 and does not follow the Location', async () => {
    const redirectTarget = await server((_req, res) => res.writeHead(200).end('followed'));
    const redirector = await server((_req, res) =>
      res.writeHead(302, { location: `http://127.0.0.1:${redirectTarget.port}/stolen` }).end(),
    );
    const client = createSafeHttpClient({ ...LOCAL, lookup: noDns });
    const result = await client.post(`http://127.0.0.1:${redirector.port}/hook`, '{}', {});
    expect(result.status).toBe(302);
    expect(redirector.seen).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 100));
    expect(redirectTarget.seen).toHaveLength(0);
  });

  it('returns error statuses as they are', async () => {
    const target = await server((_req, res) => res.writeHead(410).end('gone'));
    const client = createSafeHttpClient({ ...LOCAL, lookup: noDns });
    await expect(client.post(`http://127.0.0.1:${target.port}/`, '{}', {})).resolves.toMatchObject({ status: 410 });
  });

  it('gives up after timeoutMs when the server never answers (a retryable network error)', async () => {
    const silent = await server(() => {
      /* never responds */
    });
    const client = createSafeHttpClient({ ...LOCAL, lookup: noDns, timeoutMs: 200 });
    const started = Date.now();
    const error = await client.post(`http://127.0.0.1:${silent.port}/`, '{}', {}).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(CallbackNetworkError);
    expect(error).toMatchObject({ kind: 'network', code: 'WEBHOOK.TIMEOUT', retryable: true });
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(2_000);
  });

  it('counts a slow resolver against the same deadline', async () => {
    const hanging: ResolveHost = () => new Promise(() => {});
    const client = createSafeHttpClient({ ...LOCAL, lookup: hanging, timeoutMs: 150 });
    await expect(client.post('http://slow.eeport.test/', '{}', {})).rejects.toMatchObject({ code: 'WEBHOOK.TIMEOUT' });
  });

  it('reads at most maxResponseBytes of a large or endless body, then stops', async () => {
    let written = 0;
    const firehose = await server((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(16 * 1024, 0x61);
      const pump = () => {
        while (!res.destroyed && written < 64 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    const client = createSafeHttpClient({ ...LOCAL, lookup: noDns, maxResponseBytes: 64 * 1024, timeoutMs: 5_000 });
    const result = await client.post(`http://127.0.0.1:${firehose.port}/`, '{}', {});
    expect(result.status).toBe(200);
    expect(written).toBeLessThan(64 * 1024 * 1024);
  });

  it('turns a refused connection into a retryable network error', async () => {
    const closed = await startServer(() => {});
    await closed.close();
    const client = createSafeHttpClient({ ...LOCAL, lookup: noDns, timeoutMs: 2_000 });
    const error = await client.post(`http://127.0.0.1:${closed.port}/`, '{}', {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CallbackNetworkError);
    expect(error).toMatchObject({ code: 'WEBHOOK.NETWORK', retryable: true });
  });
});

describe('safe-http policy refusals (never retried)', () => {
  it('refuses loopback by default, before any connection', async () => {
    const target = await server((_req, res) => res.writeHead(200).end());
    const client = createSafeHttpClient({ allowHttp: true, allowLoopback: false, lookup: noDns });
    const error = await client.post(`http://127.0.0.1:${target.port}/`, '{}', {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CallbackRefusedError);
    expect(error).toMatchObject({ kind: 'refused', retryable: false });
    expect((error as Error).message).toMatch(/127\.0\.0\.1 is loopback \(127\.0\.0\.0\/8\)/);
    expect(target.seen).toHaveLength(0);
  });

  it('refuses http without allowHttp and the metadata server even with both allowances', async () => {
    const strict = createSafeHttpClient({ allowHttp: false, allowLoopback: false, lookup: noDns });
    await expect(strict.post('http://hooks.example.com/', '{}', {})).rejects.toThrow(/scheme http is not allowed/);
    const local = createSafeHttpClient({ ...LOCAL, lookup: noDns });
    await expect(local.post('http://169.254.169.254/computeMetadata/v1/', '{}', {})).rejects.toBeInstanceOf(CallbackRefusedError);
    await expect(local.post('http://metadata.google.internal/', '{}', {})).rejects.toThrow(/metadata server/);
  });

  it('refuses a hostname whose resolver answers 127.0.0.1 when allowLoopback is false, naming host, address and rule', async () => {
    const target = await server((_req, res) => res.writeHead(200).end());
    const resolver = scriptedResolver(['127.0.0.1']);
    const client = createSafeHttpClient({ allowHttp: true, allowLoopback: false, lookup: resolver });
    // Port 80: a public name on another port would be refused before DNS.
    const error = await client.post('http://rebind.eeport.test/', '{}', {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CallbackRefusedError);
    expect(error).toMatchObject({ host: 'rebind.eeport.test', address: '127.0.0.1' });
    expect((error as Error).message).toBe(
      'host rebind.eeport.test resolves to 127.0.0.1, which is blocked: 127.0.0.1 is loopback (127.0.0.0/8) [loopback]',
    );
    expect(resolver.calls).toEqual(['rebind.eeport.test']);
    expect(target.seen).toHaveLength(0);
  });

  it('refuses when any one of several resolved addresses is private', async () => {
    const target = await server((_req, res) => res.writeHead(200).end());
    const resolver = scriptedResolver(['127.0.0.1', '10.0.0.7', '::1']);
    const client = createSafeHttpClient({ ...LOCAL, lookup: resolver });
    const error = await client.post(`http://multi.eeport.test:${target.port}/`, '{}', {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CallbackRefusedError);
    expect(error).toMatchObject({ address: '10.0.0.7' });
    expect((error as Error).message).toMatch(/multi\.eeport\.test resolves to 10\.0\.0\.7.*private \(10\.0\.0\.0\/8\) \[private\]/);
    expect(target.seen).toHaveLength(0);
  });

  it('refuses mapped-IPv6 and NAT64 answers even with allowLoopback', async () => {
    for (const answer of ['::ffff:127.0.0.1', '64:ff9b::a9fe:a9fe', 'fd00::1']) {
      const client = createSafeHttpClient({ ...LOCAL, lookup: scriptedResolver([answer]) });
      await expect(client.post('http://sneaky.eeport.test/', '{}', {})).rejects.toBeInstanceOf(CallbackRefusedError);
    }
  });

  it('treats an empty or failing resolution as a retryable DNS error', async () => {
    const empty = createSafeHttpClient({ ...LOCAL, lookup: scriptedResolver([]) });
    await expect(empty.post('http://nothing.eeport.test/', '{}', {})).rejects.toMatchObject({ code: 'WEBHOOK.DNS', retryable: true });
    const failing = createSafeHttpClient({ ...LOCAL, lookup: noDns });
    await expect(failing.post('http://nxdomain.eeport.test/', '{}', {})).rejects.toMatchObject({ code: 'WEBHOOK.DNS', retryable: true });
  });
});

describe('safe-http ports', () => {
  it('a name on another port than 80/443 that resolves to a public address is refused after DNS, without a connection', async () => {
    const resolver = scriptedResolver(['8.8.8.8']);
    const client = createSafeHttpClient({ ...LOCAL, lookup: resolver });
    const error = await client.post('http://hooks.eeport.test:6379/', '{}', {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CallbackRefusedError);
    expect(error).toMatchObject({ retryable: false, host: 'hooks.eeport.test', address: '8.8.8.8', message: expect.stringMatching(/port 6379 is not allowed for a public host/) });
    expect(resolver.calls).toEqual(['hooks.eeport.test']);
  });

  it('the same name resolving to loopback (allowed locally) may use its port; configured ports widen the public ones', async () => {
    const target = await server((_req, res) => res.writeHead(204).end());
    const local = createSafeHttpClient({ ...LOCAL, lookup: scriptedResolver(['127.0.0.1']) });
    expect(await local.post(`http://hooks.eeport.test:${target.port}/`, '{}', {})).toMatchObject({ status: 204 });
    const strict = createSafeHttpClient({ allowHttp: false, allowLoopback: false, lookup: noDns, allowedPorts: [443] });
    await expect(strict.post('https://hooks.example.com:8443/', '{}', {})).rejects.toThrow(/port 8443 is not allowed.*allowed: 443/);
  });
});

describe('safe-http DNS pinning', () => {
  it('resolves once and connects to the checked address, however the name answers afterwards', async () => {
    const target = await server((_req, res) => res.writeHead(200).end('ok'));
    // First answer: the (allowed) test address; every later answer flips to internal ones.
    const resolver = scriptedResolver(['127.0.0.1'], ['169.254.169.254'], ['10.0.0.1']);
    const client = createSafeHttpClient({ ...LOCAL, lookup: resolver });
    const result = await client.post(`http://flip.eeport.test:${target.port}/hook`, '{"n":1}', {});
    expect(resolver.calls).toEqual(['flip.eeport.test']);
    expect(result).toMatchObject({ status: 200, address: '127.0.0.1' });
    expect(target.seen).toHaveLength(1);
    // The server saw the connection arrive on the checked address, with the hostname kept for Host.
    expect(target.seen[0]).toMatchObject({ localAddress: '127.0.0.1', host: `flip.eeport.test:${target.port}` });

    // The next delivery resolves again, sees the flipped answer and is refused.
    await expect(client.post(`http://flip.eeport.test:${target.port}/hook`, '{"n":2}', {})).rejects.toThrow(
      /flip\.eeport\.test resolves to 169\.254\.169\.254, which is blocked: .*metadata server/,
    );
    expect(resolver.calls).toHaveLength(2);
    expect(target.seen).toHaveLength(1);
  });

  it('connects to the first answer when several are allowed', async () => {
    const target = await server((_req, res) => res.writeHead(200).end());
    const resolver = scriptedResolver(['127.0.0.1', '127.0.0.2']);
    const client = createSafeHttpClient({ ...LOCAL, lookup: resolver });
    const result = await client.post(`http://two.eeport.test:${target.port}/`, '', {});
    expect(result.address).toBe('127.0.0.1');
    expect(target.seen[0]?.localAddress).toBe('127.0.0.1');
    expect(resolver.calls).toHaveLength(1);
  });
});

// A self-signed certificate for tls.eeport.test, made for this test only (openssl, P-256, 100 years).
const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg4LCO8AEOuiW0JQBH
Qttpc8kfuH5hZpVpiJVhn9EMojChRANCAAR0iqUJ3XjPFvkJusPl1K5P6LvoRjmJ
WEBqxGghFMnpDq+EFZrN1d+bdmX3fABgh9iewVesi6eRdzi4rDOriMx+
-----END PRIVATE KEY-----`;
const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBqDCCAU2gAwIBAgIUbHFUOfLu/BIGFka28XJSryQRpTswCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPdGxzLmVlcG9ydC50ZXN0MCAXDTI2MTEyNzIxNDYyMFoYDzIx
MjYxMTAzMjE0NjIwWjAaMRgwFgYDVQQDDA90bHMuZWVwb3J0LnRlc3QwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAAR0iqUJ3XjPFvkJusPl1K5P6LvoRjmJWEBqxGgh
FMnpDq+EFZrN1d+bdmX3fABgh9iewVesi6eRdzi4rDOriMx+o28wbTAdBgNVHQ4E
FgQUHJgetUslYidNNS6MSOAtxoCLuFAwHwYDVR0jBBgwFoAUHJgetUslYidNNS6M
SOAtxoCLuFAwDwYDVR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgg90bHMuZWVwb3J0
LnRlc3QwCgYIKoZIzj0EAwIDSQAwRgIhANppPGmzxs89uEmnYa4SsWZE484T6S7c
frM5Mkm7ffvTAiEA7zs6y6VjsaYninz/FyD7/pgEV4PLD2d+MN02qiXny2s=
-----END CERTIFICATE-----`;

describe('safe-http over TLS, pinned', () => {
  it('keeps the hostname for SNI, certificate verification and Host while connecting to the checked address', async () => {
    const sni: (string | false | null)[] = [];
    const seen: { host: string | undefined; localAddress: string | undefined }[] = [];
    const server = https.createServer({ key: TEST_KEY, cert: TEST_CERT }, (req, res) => {
      seen.push({ host: req.headers.host, localAddress: req.socket.localAddress });
      req.resume();
      req.on('end', () => res.writeHead(202).end());
    });
    server.on('secureConnection', (socket: tls.TLSSocket) => sni.push(socket.servername));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const defaults = tls.getCACertificates('default');
    try {
      const resolver = scriptedResolver(['127.0.0.1']);
      const client = createSafeHttpClient({ allowHttp: false, allowLoopback: true, lookup: resolver });

      // Untrusted certificate: verification runs (and fails) — a network error, not a refusal.
      const untrusted = await client.post(`https://tls.eeport.test:${port}/`, '{}', {}).catch((e: unknown) => e);
      expect(untrusted).toBeInstanceOf(CallbackNetworkError);
      expect((untrusted as Error).message).toMatch(/self[- ]signed/i);

      // Trusted: the certificate verifies against the name although the socket went to 127.0.0.1.
      tls.setDefaultCACertificates([...defaults, TEST_CERT]);
      const result = await client.post(`https://tls.eeport.test:${port}/hook`, '{}', {});
      expect(result).toMatchObject({ status: 202, address: '127.0.0.1' });
      expect(sni.at(-1)).toBe('tls.eeport.test');
      expect(seen).toEqual([{ host: `tls.eeport.test:${port}`, localAddress: '127.0.0.1' }]);

      // A name the certificate does not cover fails verification, even pinned to the same server.
      const resolver2 = scriptedResolver(['127.0.0.1']);
      const other = createSafeHttpClient({ allowHttp: false, allowLoopback: true, lookup: resolver2 });
      const mismatch = await other.post(`https://other.eeport.test:${port}/`, '{}', {}).catch((e: unknown) => e);
      expect(mismatch).toBeInstanceOf(CallbackNetworkError);
      expect((mismatch as Error).message).toMatch(/altnames|does not match/i);
      expect(seen).toHaveLength(1);
    } finally {
      tls.setDefaultCACertificates(defaults);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
