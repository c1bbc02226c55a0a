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
    const c = loadConfig({ ...base, EE_ALLOWED_PROJECTS: 'a-project, b-project ,', POLL_GET_THRESHOLD: '7', POLL_AUTH_DISABLED: 'yes' });
    expect(c.EE_ALLOWED_PROJECTS).toEqual(['a-project', 'b-project']);
    expect(c.POLL_GET_THRESHOLD).toBe(7);
    expect(c.POLL_AUTH_DISABLED).toBe(true);
  });

  it('every variable is documented in the docs/configuration.md tables, and nothing else is', () => {
    const table = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    const documented = new Set([...table.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]));
    expect([...documented].sort()).toEqual(Object.keys(CONFIG_VARIABLES).sort());
  });
});
