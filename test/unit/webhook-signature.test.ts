import { describe, it, expect } from 'vitest';
import { Webhook } from 'standardwebhooks';
import {
  generateSecret,
  nextRetryDelayMs,
  parseSecret,
  signWebhook,
  verifyWebhook,
  WEBHOOK_RETRY_SCHEDULE_MS,
} from '../../functions/src/core/webhooks/webhook-signature.ts';

// The scheme's published test vector.
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** The independent implementation: true when it accepts, else its error message. */
function libraryVerify(secret: string, headers: Record<string, string>, body: string): true | string {
  try {
    new Webhook(secret).verify(body, headers, { jsonParse: false });
    return true;
  } catch (err) {
    return (err as Error).message;
  }
}

describe('parseSecret', () => {
  it('decodes the base64 after whsec_', () => {
    expect(parseSecret(VECTOR.secret).toString('base64')).toBe('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
  });

  it.each([
    ['MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', /start with "whsec_"/],
    ['whsec_', /standard base64/],
    ['whsec_not base64!!', /standard base64/],
    ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS', /standard base64/],
    ['whsec_c2hvcnQ=', /at least 16/],
  ])('refuses %s with a clear message', (secret, message) => {
    expect(() => parseSecret(secret)).toThrow(message);
  });

  it('generated secrets parse and are accepted by the library', () => {
    const secret = generateSecret();
    expect(parseSecret(secret)).toHaveLength(32);
    const body = '{"ok":true}';
    const headers = signWebhook({ secrets: [secret], id: 'msg_1', timestamp: nowSeconds(), body });
    expect(libraryVerify(secret, { ...headers }, body)).toBe(true);
  });
});

describe('signWebhook', () => {
  it('reproduces the reference test vector exactly', () => {
    expect(signWebhook({ secrets: [VECTOR.secret], id: VECTOR.id, timestamp: VECTOR.timestamp, body: VECTOR.body })).toEqual({
      'webhook-id': VECTOR.id,
      'webhook-timestamp': '1614265330',
      'webhook-signature': VECTOR.signature,
    });
  });

  it('matches the library’s own sign() for the vector', () => {
    expect(new Webhook(VECTOR.secret).sign(VECTOR.id, new Date(VECTOR.timestamp * 1000), VECTOR.body)).toBe(VECTOR.signature);
  });

  it('is accepted by the standardwebhooks library (current timestamp, non-ASCII body)', () => {
    const body = JSON.stringify({ type: 'eeport.export.v1.succeeded', note: 'Zürich — 東京' });
    const headers = signWebhook({ secrets: [VECTOR.secret], id: 'msg_abc', timestamp: nowSeconds(), body });
    expect(libraryVerify(VECTOR.secret, { ...headers }, body)).toBe(true);
  });

  it('signs with every active secret; a receiver holding either one accepts (rotation)', () => {
    const oldSecret = VECTOR.secret;
    const newSecret = generateSecret();
    const body = '{"event":"rotated"}';
    const headers = signWebhook({ secrets: [oldSecret, newSecret], id: 'msg_rot', timestamp: nowSeconds(), body });
    const parts = headers['webhook-signature'].split(' ');
    expect(parts).toHaveLength(2);
    expect(parts.every((p) => /^v1,[A-Za-z0-9+/]{43}=$/.test(p))).toBe(true);

    for (const secret of [oldSecret, newSecret]) {
      expect(libraryVerify(secret, { ...headers }, body)).toBe(true);
      expect(verifyWebhook({ secrets: [secret], headers: { ...headers }, body })).toEqual({ ok: true });
    }
    expect(libraryVerify(generateSecret(), { ...headers }, body)).toBe('No matching signature found');
    expect(verifyWebhook({ secrets: [generateSecret()], headers: { ...headers }, body })).toEqual({
      ok: false,
      reason: 'no-matching-signature',
    });
  });

  it.each([
    [{ secrets: [] }, /at least one secret/],
    [{ id: 'a.b' }, /without dots/],
    [{ timestamp: 1.5 }, /whole unix seconds/],
    [{ secrets: ['nope'] }, /whsec_/],
  ])('refuses bad input %o', (override, message) => {
    expect(() => signWebhook({ secrets: [VECTOR.secret], id: 'msg_1', timestamp: 1, body: '', ...override })).toThrow(message);
  });
});

describe('verifyWebhook', () => {
  const vectorHeaders = {
    'webhook-id': VECTOR.id,
    'webhook-timestamp': String(VECTOR.timestamp),
    'webhook-signature': VECTOR.signature,
  };

  it('accepts the test vector at its own time, with header names in any case', () => {
    const headers = { 'Webhook-Id': VECTOR.id, 'WEBHOOK-TIMESTAMP': String(VECTOR.timestamp), 'webhook-signature': VECTOR.signature };
    expect(verifyWebhook({ secrets: [VECTOR.secret], headers, body: VECTOR.body, now: VECTOR.timestamp })).toEqual({ ok: true });
  });

  it('accepts when any of several signatures matches (unknown versions ignored)', () => {
    const headers = { ...vectorHeaders, 'webhook-signature': `v2,abc v1,${'A'.repeat(43)}= ${VECTOR.signature}` };
    expect(verifyWebhook({ secrets: [VECTOR.secret], headers, body: VECTOR.body, now: VECTOR.timestamp }).ok).toBe(true);
  });

  it('refuses a tampered body — and so does the library', () => {
    const body = '{"amount":1}';
    const headers = signWebhook({ secrets: [VECTOR.secret], id: 'msg_t', timestamp: nowSeconds(), body });
    const tampered = '{"amount":1000}';
    expect(verifyWebhook({ secrets: [VECTOR.secret], headers: { ...headers }, body: tampered })).toEqual({
      ok: false,
      reason: 'no-matching-signature',
    });
    expect(libraryVerify(VECTOR.secret, { ...headers }, tampered)).toBe('No matching signature found');
  });

  it('refuses a timestamp more than 5 minutes old — and so does the library', () => {
    const body = '{"late":true}';
    const headers = signWebhook({ secrets: [VECTOR.secret], id: 'msg_old', timestamp: nowSeconds() - 301, body });
    expect(verifyWebhook({ secrets: [VECTOR.secret], headers: { ...headers }, body })).toEqual({ ok: false, reason: 'timestamp-too-old' });
    expect(libraryVerify(VECTOR.secret, { ...headers }, body)).toBe('Message timestamp too old');
    // The reference vector itself is from 2021.
    expect(verifyWebhook({ secrets: [VECTOR.secret], headers: vectorHeaders, body: VECTOR.body })).toEqual({
      ok: false,
      reason: 'timestamp-too-old',
    });
    expect(libraryVerify(VECTOR.secret, vectorHeaders, VECTOR.body)).toBe('Message timestamp too old');
  });

  it('refuses a timestamp more than 5 minutes in the future; accepts exactly at the tolerance', () => {
    const t = VECTOR.timestamp;
    const input = { secrets: [VECTOR.secret], headers: vectorHeaders, body: VECTOR.body };
    expect(verifyWebhook({ ...input, now: t - 301 })).toEqual({ ok: false, reason: 'timestamp-too-new' });
    expect(verifyWebhook({ ...input, now: t - 300 }).ok).toBe(true);
    expect(verifyWebhook({ ...input, now: t + 300 }).ok).toBe(true);
    expect(verifyWebhook({ ...input, now: t + 10, toleranceSeconds: 5 })).toEqual({ ok: false, reason: 'timestamp-too-old' });
  });

  it.each([
    [{ 'webhook-id': undefined }, 'missing-headers'],
    [{ 'webhook-signature': '' }, 'missing-headers'],
    [{ 'webhook-timestamp': '16142653.30' }, 'invalid-timestamp'],
    [{ 'webhook-timestamp': '-1' }, 'invalid-timestamp'],
    [{ 'webhook-signature': VECTOR.signature.slice(0, -2) }, 'no-matching-signature'],
    [{ 'webhook-id': 'msg_other' }, 'no-matching-signature'],
  ])('refuses %o as %s', (override, reason) => {
    const headers = { ...vectorHeaders, ...override };
    expect(verifyWebhook({ secrets: [VECTOR.secret], headers, body: VECTOR.body, now: VECTOR.timestamp })).toEqual({ ok: false, reason });
  });
});

describe('retry schedule', () => {
  it('is the reference schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h', () => {
    expect(WEBHOOK_RETRY_SCHEDULE_MS).toEqual([0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]);
  });

  it('applies at most ±10 % jitter and ends after the last entry', () => {
    expect(nextRetryDelayMs(0)).toBe(0);
    expect(nextRetryDelayMs(1, WEBHOOK_RETRY_SCHEDULE_MS, () => 0.5)).toBe(5_000);
    expect(nextRetryDelayMs(1, WEBHOOK_RETRY_SCHEDULE_MS, () => 0)).toBe(4_500);
    expect(nextRetryDelayMs(1, WEBHOOK_RETRY_SCHEDULE_MS, () => 0.999999)).toBe(5_500);
    expect(nextRetryDelayMs(7, WEBHOOK_RETRY_SCHEDULE_MS, () => 0)).toBe(32_400_000);
    expect(nextRetryDelayMs(8)).toBeNull();
    expect(nextRetryDelayMs(2, [1, 2])).toBeNull();
    expect(() => nextRetryDelayMs(-1)).toThrow();
    for (let attempt = 0; attempt < WEBHOOK_RETRY_SCHEDULE_MS.length; attempt++) {
      const base = WEBHOOK_RETRY_SCHEDULE_MS[attempt] ?? 0;
      const d = nextRetryDelayMs(attempt) ?? -1;
      expect(d).toBeGreaterThanOrEqual(Math.floor(base * 0.9));
      expect(d).toBeLessThanOrEqual(Math.ceil(base * 1.1));
    }
  });
});
