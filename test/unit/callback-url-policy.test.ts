import { describe, it, expect } from 'vitest';
import { isIP } from 'node:net';
import fc from 'fast-check';
import {
  checkAddress,
  checkCallbackUrl,
  classifyAddress,
  parseIpAddress,
  type CallbackUrlPolicy,
} from '../../functions/src/core/requests/callback-url-policy.ts';

const STRICT: CallbackUrlPolicy = { allowHttp: false, allowLoopback: false };
const LOCAL: CallbackUrlPolicy = { allowHttp: true, allowLoopback: true };

/** [url, the rule's words the reason must name] — every range from the reference and then some. */
const BLOCKED_URLS: [string, RegExp][] = [
  // loopback
  ['https://127.0.0.1/hook', /loopback \(127\.0\.0\.0\/8\)/],
  ['https://127.255.255.254/', /loopback \(127\.0\.0\.0\/8\)/],
  ['https://[::1]/hook', /loopback \(::1\/128\)/],
  ['https://[0:0:0:0:0:0:0:1]/', /loopback \(::1\/128\)/],
  // IPv4 spellings the WHATWG parser normalises to 127.0.0.1
  ['https://2130706433/', /127\.0\.0\.1 is loopback/],
  ['https://0177.0.0.1/', /127\.0\.0\.1 is loopback/],
  ['https://0x7f.1/', /127\.0\.0\.1 is loopback/],
  ['https://0x7f000001/', /127\.0\.0\.1 is loopback/],
  ['https://127.1/', /127\.0\.0\.1 is loopback/],
  ['https://017700000001/', /127\.0\.0\.1 is loopback/],
  ['https://0xa9.0xfe.0xa9.0xfe/', /169\.254\.169\.254 is the cloud metadata server/],
  ['https://2852039166/', /169\.254\.169\.254 is the cloud metadata server/],
  // private
  ['https://10.0.0.1/', /private \(10\.0\.0\.0\/8\)/],
  ['https://10.255.255.255/', /private \(10\.0\.0\.0\/8\)/],
  ['https://172.16.0.1/', /private \(172\.16\.0\.0\/12\)/],
  ['https://172.31.255.255/', /private \(172\.16\.0\.0\/12\)/],
  ['https://192.168.1.1/', /private \(192\.168\.0\.0\/16\)/],
  ['https://[fc00::1]/', /unique local \(private\) \(fc00::\/7\)/],
  ['https://[fd20:ce::254]/', /unique local \(private\) \(fc00::\/7\)/],
  // link-local and the metadata server
  ['https://169.254.169.254/computeMetadata/v1/', /the cloud metadata server .*169\.254\.169\.254\/32/],
  ['https://169.254.1.1/', /link-local \(169\.254\.0\.0\/16\)/],
  ['https://[fe80::1]/', /link-local \(fe80::\/10\)/],
  ['https://[febf:ffff::1]/', /link-local \(fe80::\/10\)/],
  // carrier-grade NAT
  ['https://100.64.0.1/', /carrier-grade NAT .*100\.64\.0\.0\/10/],
  ['https://100.127.255.255/', /carrier-grade NAT .*100\.64\.0\.0\/10/],
  // IPv4-mapped IPv6, judged by the IPv4 inside
  ['https://[::ffff:127.0.0.1]/', /IPv4-mapped IPv6 \(::ffff:0:0\/96\) carrying 127\.0\.0\.1 is loopback/],
  ['https://[::ffff:7f00:1]/', /IPv4-mapped IPv6 .* carrying 127\.0\.0\.1 is loopback/],
  ['https://[::ffff:169.254.169.254]/', /IPv4-mapped IPv6 .* carrying 169\.254\.169\.254 is the cloud metadata server/],
  ['https://[::ffff:a00:1]/', /IPv4-mapped IPv6 .* carrying 10\.0\.0\.1 is private/],
  ['https://[0:0:0:0:0:ffff:c0a8:0101]/', /IPv4-mapped IPv6 .* carrying 192\.168\.1\.1 is private/],
  // NAT64, judged by the IPv4 inside
  ['https://[64:ff9b::127.0.0.1]/', /NAT64 well-known prefix \(64:ff9b::\/96\) carrying 127\.0\.0\.1 is loopback/],
  ['https://[64:ff9b::a9fe:a9fe]/', /NAT64 .* carrying 169\.254\.169\.254 is the cloud metadata server/],
  ['https://[64:ff9b::10.1.2.3]/', /NAT64 .* carrying 10\.1\.2\.3 is private/],
  ['https://[64:ff9b:1::1]/', /local-use NAT64 \(64:ff9b:1::\/48\)/],
  // 6to4 (judged by the IPv4 inside) and Teredo (blocked outright)
  ['https://[2002:7f00:1::1]/', /6to4 \(2002::\/16\) carrying 127\.0\.0\.1 is loopback/],
  ['https://[2002:a9fe:a9fe::]/', /6to4 .* carrying 169\.254\.169\.254/],
  ['https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/', /Teredo tunnelling \(2001::\/32\)/],
  // this network, unspecified, multicast, broadcast, reserved
  ['https://0.0.0.0/', /"this network" \(0\.0\.0\.0\/8\)/],
  ['https://0/', /0\.0\.0\.0 is "this network"/],
  ['https://0.1.2.3/', /"this network" \(0\.0\.0\.0\/8\)/],
  ['https://[::]/', /the unspecified address \(::\/128\)/],
  ['https://224.0.0.1/', /multicast \(224\.0\.0\.0\/4\)/],
  ['https://239.255.255.250/', /multicast \(224\.0\.0\.0\/4\)/],
  ['https://[ff02::1]/', /multicast \(ff00::\/8\)/],
  ['https://255.255.255.255/', /limited broadcast \(255\.255\.255\.255\/32\)/],
  ['https://240.0.0.1/', /reserved \(240\.0\.0\.0\/4\)/],
  // IETF assignments, benchmarking, documentation
  ['https://192.0.0.170/', /IETF protocol assignments \(192\.0\.0\.0\/24\)/],
  ['https://192.88.99.1/', /6to4 relay anycast \(192\.88\.99\.0\/24\)/],
  ['https://198.18.0.1/', /benchmarking \(198\.18\.0\.0\/15\)/],
  ['https://198.19.255.255/', /benchmarking \(198\.18\.0\.0\/15\)/],
  ['https://[2001:2::1]/', /benchmarking \(2001:2::\/48\)/],
  ['https://192.0.2.10/', /documentation \(TEST-NET-1\)/],
  ['https://198.51.100.10/', /documentation \(TEST-NET-2\)/],
  ['https://203.0.113.10/', /documentation \(TEST-NET-3\)/],
  ['https://[2001:db8::1]/', /documentation \(2001:db8::\/32\)/],
  ['https://[3fff::1]/', /documentation \(3fff::\/20\)/],
  ['https://[2001:10::1]/', /IETF protocol assignments \(2001::\/23\)/],
  // other non-global IPv6
  ['https://[::127.0.0.1]/', /deprecated IPv4-compatible IPv6 \(::\/96\)/],
  ['https://[100::1]/', /discard-only \(100::\/64\)/],
  ['https://[fec0::1]/', /deprecated site-local \(fec0::\/10\)/],
  ['https://[::ffff:0:7f00:1]/', /outside global unicast \(2000::\/3\)/],
  ['https://[4000::1]/', /outside global unicast \(2000::\/3\)/],
  // names that are internal by definition
  ['https://metadata.google.internal/computeMetadata/v1/', /metadata\.google\.internal is the cloud metadata server/],
  ['https://METADATA.GOOGLE.INTERNAL./', /metadata\.google\.internal is the cloud metadata server/],
  ['https://metadata/', /metadata is the cloud metadata server/],
  ['https://instance-1.c.my-project.internal/', /\.internal domain/],
  ['https://localhost/', /loopback name/],
  ['https://api.localhost/', /loopback name/],
  ['https://printer.local/', /multicast-DNS/],
  ['https://intranet/', /single-label name/],
];

describe('checkCallbackUrl: blocked destinations', () => {
  it.each(BLOCKED_URLS)('refuses %s', (url, rule) => {
    const result = checkCallbackUrl(url, STRICT);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.reasons.join('; ')).toMatch(rule);
  });

  it.each(BLOCKED_URLS.filter(([url]) => !/\/\/(127\.|\[::1\]|\[0:0:0:0:0:0:0:1\]|2130706433|0177|0x7f|017700000001|localhost|api\.localhost)/.test(url)))(
    'still refuses %s with allowHttp and allowLoopback',
    (url) => {
      expect(checkCallbackUrl(url, LOCAL).ok).toBe(false);
      expect(checkCallbackUrl(url.replace('https:', 'http:'), LOCAL).ok).toBe(false);
    },
  );

  it('names the rule id in the reason for IP literals', () => {
    expect(checkCallbackUrl('https://[::ffff:7f00:1]/', STRICT)).toEqual({
      ok: false,
      reasons: ['address ::ffff:7f00:1 is IPv4-mapped IPv6 (::ffff:0:0/96) carrying 127.0.0.1 is loopback (127.0.0.0/8) [ipv4-mapped]'],
    });
  });
});

describe('checkCallbackUrl: allowed destinations', () => {
  it.each([
    'https://hooks.example.com/eeport',
    'https://hooks.example.com:443/eeport?token=abc',
    'https://hooks.example.com:80/eeport',
    'https://8.8.8.8/',
    'https://1.1.1.1/hook',
    'https://[2606:4700:4700::1111]/',
    'https://[::ffff:8.8.8.8]/',
    'https://[64:ff9b::8.8.8.8]/',
    'https://[2002:808:808::1]/',
    'https://172.32.0.1/',
    'https://100.128.0.1/',
    'https://192.169.0.1/',
    'https://198.20.0.1/',
    'https://my.internal.example.com/',
    'https://xn--bcher-kva.example/',
  ])('allows %s', (url) => {
    const result = checkCallbackUrl(url, STRICT);
    expect(result).toMatchObject({ ok: true });
  });

  it('reports the hostname without brackets and the IP literal', () => {
    expect(checkCallbackUrl('https://[2606:4700:4700::1111]:8443/x', { ...STRICT, allowedPorts: [443, 8443] })).toMatchObject({
      ok: true,
      hostname: '2606:4700:4700::1111',
      ipLiteral: '2606:4700:4700::1111',
    });
    expect(checkCallbackUrl('https://Hooks.Example.COM./x', STRICT)).toMatchObject({ ok: true, hostname: 'hooks.example.com' });
    const named = checkCallbackUrl('https://hooks.example.com/x', STRICT);
    expect(named.ok && named.ipLiteral).toBe(undefined);
  });
});

describe('checkCallbackUrl: ports (WEBHOOK_ALLOWED_PORTS)', () => {
  it.each(['https://hooks.example.com:8443/x', 'http://hooks.example.com:6379/', 'https://8.8.8.8:22/', 'https://[2606:4700:4700::1111]:8080/', 'https://hooks.example.com:0443x/'])(
    'a public host on another port than 80 or 443 is refused: %s',
    (url) => {
      const r = checkCallbackUrl(url, { ...STRICT, allowHttp: true });
      expect(r.ok, url).toBe(false);
    },
  );

  it('names the port and the setting; configured ports are allowed, and only those', () => {
    expect(checkCallbackUrl('https://hooks.example.com:8443/x', STRICT)).toEqual({ ok: false, reasons: ['port 8443 is not allowed for a public host (allowed: 80, 443; WEBHOOK_ALLOWED_PORTS)'] });
    const policy = { ...STRICT, allowedPorts: [8443] };
    expect(checkCallbackUrl('https://hooks.example.com:8443/x', policy).ok).toBe(true);
    expect(checkCallbackUrl('https://hooks.example.com/x', policy).ok).toBe(false);
  });

  it('loopback, where the policy allows it, may use any port; a name is judged by its address later (safe-http)', () => {
    for (const url of ['http://127.0.0.1:8790/hook', 'http://[::1]:9000/', 'http://127.5.6.7:1/']) expect(checkCallbackUrl(url, LOCAL).ok, url).toBe(true);
    expect(checkCallbackUrl('http://hooks.eeport.test:8790/hook', LOCAL).ok).toBe(true);
    // A public address literal is public whatever the policy allows.
    expect(checkCallbackUrl('http://8.8.8.8:8790/hook', LOCAL).ok).toBe(false);
    expect(checkCallbackUrl('http://hooks.eeport.test:8790/hook', { ...LOCAL, allowLoopback: false }).ok).toBe(false);
  });
});

describe('checkCallbackUrl: scheme, credentials, allow-list', () => {
  it('refuses http unless allowHttp', () => {
    expect(checkCallbackUrl('http://hooks.example.com/', STRICT)).toEqual({
      ok: false,
      reasons: ['scheme http is not allowed (https only)'],
    });
    expect(checkCallbackUrl('http://hooks.example.com/', { ...STRICT, allowHttp: true }).ok).toBe(true);
  });

  it.each(['ftp://hooks.example.com/', 'file:///etc/passwd', 'javascript:alert(1)', 'gopher://127.0.0.1:6379/_x', 'ws://hooks.example.com/'])(
    'refuses the scheme of %s even with allowHttp',
    (url) => {
      const result = checkCallbackUrl(url, LOCAL);
      expect(result.ok).toBe(false);
      expect(!result.ok && result.reasons[0]).toMatch(/^scheme .* is not allowed/);
    },
  );

  it.each(['https://user:pass@hooks.example.com/', 'https://user@hooks.example.com/', 'https://:pass@hooks.example.com/'])(
    'refuses credentials in %s',
    (url) => {
      expect(checkCallbackUrl(url, STRICT)).toEqual({ ok: false, reasons: ['credentials in the URL are not allowed'] });
    },
  );

  it('lists every problem at once', () => {
    const result = checkCallbackUrl('http://u:p@169.254.169.254/', STRICT);
    expect(!result.ok && result.reasons).toHaveLength(3);
  });

  it.each(['not a url', '/relative/path', ''])('refuses %j as not a URL', (url) => {
    expect(checkCallbackUrl(url, STRICT)).toEqual({ ok: false, reasons: ['not a valid absolute URL'] });
  });

  it('narrows to allowedHosts (exact names and *.suffix), without widening', () => {
    const policy = { ...STRICT, allowedHosts: ['hooks.example.com', '*.partner.example'] };
    expect(checkCallbackUrl('https://hooks.example.com/', policy).ok).toBe(true);
    expect(checkCallbackUrl('https://a.b.partner.example/', policy).ok).toBe(true);
    expect(checkCallbackUrl('https://partner.example/', policy).ok).toBe(false);
    expect(checkCallbackUrl('https://evilpartner.example/', policy).ok).toBe(false);
    expect(checkCallbackUrl('https://other.example.com/', policy)).toEqual({
      ok: false,
      reasons: ['host other.example.com is not in the allowed hosts'],
    });
    expect(checkCallbackUrl('https://127.0.0.1/', { ...policy, allowedHosts: ['127.0.0.1'] }).ok).toBe(false);
    expect(checkCallbackUrl('https://hooks.example.com/', { ...STRICT, allowedHosts: [] }).ok).toBe(false);
  });
});

describe('allowLoopback', () => {
  it('is never on by default: the strict policy refuses loopback', () => {
    expect(checkCallbackUrl('http://127.0.0.1:8080/', { ...STRICT, allowHttp: true }).ok).toBe(false);
  });

  it.each(['http://127.0.0.1:8080/hook', 'http://127.9.9.9/', 'http://[::1]:8080/', 'http://localhost:8080/', 'http://2130706433/'])(
    'permits %s',
    (url) => {
      expect(checkCallbackUrl(url, LOCAL).ok).toBe(true);
    },
  );

  it.each([
    'http://[::ffff:127.0.0.1]/',
    'http://[64:ff9b::7f00:1]/',
    'http://[2002:7f00:1::]/',
    'http://[::127.0.0.1]/',
    'http://0.0.0.0/',
    'http://10.0.0.1/',
    'http://169.254.169.254/',
  ])('permits nothing else, e.g. %s', (url) => {
    expect(checkCallbackUrl(url, LOCAL).ok).toBe(false);
  });

  it('checkAddress applies the same exception', () => {
    expect(checkAddress('127.0.0.1', { allowLoopback: true })).toEqual({ blocked: false });
    expect(checkAddress('::1', { allowLoopback: true })).toEqual({ blocked: false });
    expect(checkAddress('::ffff:127.0.0.1', { allowLoopback: true }).blocked).toBe(true);
    expect(checkAddress('127.0.0.1', { allowLoopback: false })).toMatchObject({ blocked: true, rule: 'loopback' });
  });
});

describe('classifyAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['::1', 'loopback'],
    ['169.254.169.254', 'metadata-server'],
    ['fe80::1%eth0', 'link-local'],
    ['::ffff:10.0.0.1', 'ipv4-mapped'],
    ['64:ff9b::192.168.0.1', 'nat64'],
    ['2001::1', 'teredo'],
    ['FC00::', 'unique-local'],
  ])('%s → %s', (ip, rule) => {
    expect(classifyAddress(ip)).toMatchObject({ blocked: true, rule });
  });

  it.each(['8.8.8.8', '2607:f8b0:4004:800::200e', '::ffff:8.8.4.4', '64:ff9b::1.1.1.1'])('%s is allowed', (ip) => {
    expect(classifyAddress(ip)).toEqual({ blocked: false });
  });

  it.each(['', 'localhost', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '0x7f.0.0.1', '1::2::3', '1:2:3:4:5:6:7:8:9', ':::', 'gggg::1', '1.2.3.4::'])(
    'fails closed on %j',
    (ip) => {
      expect(classifyAddress(ip)).toMatchObject({ blocked: true, rule: 'unparseable' });
    },
  );

  it('parses exactly what node:net accepts as an address (random IPv4/IPv6 text)', () => {
    const ipText = fc.oneof(
      fc.ipV4(),
      fc.ipV6(),
      fc.ipV4Extended(),
      fc.string({ unit: fc.constantFrom('0', '1', 'f', ':', '.', '9', 'a'), maxLength: 20 }),
    );
    fc.assert(
      fc.property(ipText, (text) => {
        expect(parseIpAddress(text) !== null).toBe(isIP(text) !== 0);
      }),
      { numRuns: 3000 },
    );
  });
});
