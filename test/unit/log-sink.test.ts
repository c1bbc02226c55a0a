import { describe, it, expect } from 'vitest';
import { Writable } from 'node:stream';
import { createCloudLoggingSink } from '../../functions/src/adapters/log-sink.cloud-logging.ts';
import { createLogEvents } from '../../functions/src/core/jobs/log-events.ts';
import { newJob } from '../../functions/src/core/jobs/job.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { lines, destination };
}

describe('Cloud Logging sink', () => {
  it('writes one JSON object per entry with severity, message, event, job id and trace', async () => {
    const { lines, destination } = capture();
    const logs = createLogEvents(createCloudLoggingSink({ gcpProject: 'my-project', destination }), '4bf92f3577b34da6a3ce929d0e0e4736');
    const job = newJob({ jobId: 'a'.repeat(32), state: 'PENDING', eeProject: 'ee-p', request: null, requestId: 'r', identity: 'x', labels: {}, callbackUrl: null, source: { kind: 'api' } }, '2026-01-01T00:00:00Z');
    logs.exportSubmitted({ ...job, operationName: 'projects/ee-p/operations/OP1' });
    await new Promise((r) => setImmediate(r));
    expect(lines[0]).toMatchObject({
      severity: 'INFO',
      event: 'export.submitted',
      jobId: 'a'.repeat(32),
      operationName: 'projects/ee-p/operations/OP1',
      'logging.googleapis.com/trace': 'projects/my-project/traces/4bf92f3577b34da6a3ce929d0e0e4736',
    });
    expect(String(lines[0]!.message)).toContain('OP1');
  });

  it('never writes secrets: tokens, webhook secrets and authorization headers are redacted', async () => {
    const { lines, destination } = capture();
    const sink = createCloudLoggingSink({ destination });
    sink.write({
      severity: 'ERROR',
      event: 'test',
      message: 'call failed with Authorization: Bearer ya29.a0AfH6SMBsecretsecret and whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      token: 'tok-123',
      config: { EE_ACCESS_TOKEN: 'plain-static-token-value', apiKey: 'AIzaKEY', nested: { password: 'hunter2' }, webhookSecret: 'whsec_abc', headers: { authorization: 'Bearer sekrit' } },
      error: { message: 'request to https://x failed, header Bearer sekrit2' },
    });
    await new Promise((r) => setImmediate(r));
    const text = JSON.stringify(lines);
    for (const secret of ['ya29.a0AfH6SMBsecretsecret', 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'tok-123', 'plain-static-token-value', 'AIzaKEY', 'hunter2', 'whsec_abc', 'sekrit', 'sekrit2']) {
      expect(text, secret).not.toContain(secret);
    }
    expect(text).toContain('[redacted]');
    expect(lines[0]!.severity).toBe('ERROR');
  });

  it('maps WARNING and filters below the level', async () => {
    const { lines, destination } = capture();
    const sink = createCloudLoggingSink({ level: 'warn', destination });
    sink.write({ severity: 'INFO', event: 'quiet', message: 'not written' });
    sink.write({ severity: 'WARNING', event: 'loud', message: 'written' });
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => l.severity)).toEqual(['WARNING']);
  });
});
