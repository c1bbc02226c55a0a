import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from '../../functions/src/config.ts';

const base = { EE_PROJECT: 'ee-test-project' };

describe('loadConfig', () => {
  it('applies documented defaults', () => {
    const c = loadConfig(base);
    expect(c.EE_API_ROOT).toBe('https://earthengine.googleapis.com');
    expect(c.EE_API_VERSION).toBe('v1');
    expect(c.MAX_IN_FLIGHT_PER_PROJECT).toBe(1000);
    expect(c.POLL_WINDOW_SECONDS).toBe(50);
    expect(c.EE_ALLOWED_PROJECTS).toEqual([]);
    expect(c.POLL_AUTH_DISABLED).toBe(false);
    expect(c.eventSource).toBe('//eeport/projects/local');
  });

  it.each([
    [{}, /EE_PROJECT/],
    [{ EE_PROJECT: 'Bad Project' }, /EE_PROJECT: must be a Cloud project id/],
    [{ ...base, EE_API_ROOT: 'not a url' }, /EE_API_ROOT/],
    [{ ...base, MAX_IN_FLIGHT_PER_PROJECT: '0' }, /MAX_IN_FLIGHT_PER_PROJECT/],
    [{ ...base, MAX_IN_FLIGHT_PER_PROJECT: 'many' }, /MAX_IN_FLIGHT_PER_PROJECT/],
    [{ ...base, POLL_AUTH_DISABLED: 'maybe' }, /POLL_AUTH_DISABLED/],
    [{ ...base, EE_API_VERSION: 'v2' }, /EE_API_VERSION/],
    [{ ...base, SUBMIT_LEASE_SECONDS: '100', EE_HTTP_TIMEOUT_MS: '20000' }, /SUBMIT_LEASE_SECONDS/],
    [{ ...base, K_SERVICE: 'pollExports' }, /POLL_OIDC_AUDIENCE and POLL_INVOKER_EMAIL/],
    [{ ...base, K_SERVICE: 'pollExports', POLL_AUTH_DISABLED: 'true', POLL_OIDC_AUDIENCE: 'a', POLL_INVOKER_EMAIL: 'b' }, /local runs only/],
  ])('refuses %j naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('parses lists, numbers and booleans', () => {
    const c = loadConfig({ ...base, EE_ALLOWED_PROJECTS: 'a-project, b-project ,', POLL_GET_THRESHOLD: '7', POLL_AUTH_DISABLED: 'yes', EEPORT_LOCAL: 'true' });
    expect(c.EE_ALLOWED_PROJECTS).toEqual(['a-project', 'b-project']);
    expect(c.POLL_GET_THRESHOLD).toBe(7);
    expect(c.POLL_AUTH_DISABLED).toBe(true);
  });

  describe('the local-only switches need EEPORT_LOCAL=true, not merely the absence of K_SERVICE', () => {
    const deployed = { K_SERVICE: 'pollExports', POLL_OIDC_AUDIENCE: 'https://x/poll', POLL_INVOKER_EMAIL: 's@x.iam.gserviceaccount.com' };
    it.each(['POLL_AUTH_DISABLED', 'WEBHOOK_ALLOW_HTTP', 'WEBHOOK_ALLOW_LOOPBACK'])('%s=true without EEPORT_LOCAL is refused, naming both; with it, accepted; with K_SERVICE, refused either way', (name) => {
      expect(() => loadConfig({ ...base, [name]: 'true' })).toThrow(new RegExp(`${name}: for local runs only, and EEPORT_LOCAL=true does not say this is one`));
      expect(loadConfig({ ...base, [name]: 'true', EEPORT_LOCAL: 'true' })[name as 'POLL_AUTH_DISABLED']).toBe(true);
      expect(() => loadConfig({ ...base, ...deployed, [name]: 'true' })).toThrow(/local runs only, but K_SERVICE says this is a deployed instance/);
      expect(() => loadConfig({ ...base, ...deployed, [name]: 'true', EEPORT_LOCAL: 'true' })).toThrow(ConfigError);
    });

    it('EEPORT_LOCAL itself is refused on a deployed instance, and is off by default', () => {
      expect(loadConfig(base).EEPORT_LOCAL).toBe(false);
      expect(() => loadConfig({ ...base, ...deployed, EEPORT_LOCAL: 'true' })).toThrow(/EEPORT_LOCAL=true marks a local run, but K_SERVICE says this is a deployed instance/);
    });

    it('the local stack and the test harnesses set it', () => {
      for (const file of ['../../tools/local-stack/local-config.ts', '../harness/stack.ts', '../reliability/lib/world.ts']) {
        expect(readFileSync(new URL(file, import.meta.url), 'utf8'), file).toMatch(/EEPORT_LOCAL: 'true'/);
      }
    });
  });

  it('every variable is documented in the docs/configuration.md tables, and nothing else is', () => {
    const table = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    const documented = new Set([...table.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]));
    expect([...documented].sort()).toEqual(Object.keys(CONFIG_VARIABLES).sort());
  });
});
