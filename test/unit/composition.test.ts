/**
 * The composition root builds each adapter on first use, so a function target only
 * constructs what it uses, and the adapters only some targets have (webhook sender,
 * scheduler token check) are built from the factories those targets pass in.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../functions/src/config.ts';
import { installGraph, instanceGraph, lazyRealAdapters } from '../../functions/src/composition/instance.ts';
import type { WebhookSender } from '../../functions/src/core/ports.ts';

const env = { EE_PROJECT: 'ee-test', GOOGLE_CLOUD_PROJECT: 'test-project', FIRESTORE_EMULATOR_HOST: '127.0.0.1:1', PUBSUB_EMULATOR_HOST: '127.0.0.1:1' };
const config = () => loadConfig(env);

function countingSender() {
  const counts = { built: 0, posts: 0 };
  const make = (): WebhookSender => {
    counts.built++;
    return {
      post: async () => {
        counts.posts++;
        return { status: 204, latencyMs: 1 };
      },
    };
  };
  return { counts, make };
}

describe('lazy real adapters', () => {
  it('builds a target-specific adapter on first use, once, and not when the adapters are copied', async () => {
    const { counts, make } = countingSender();
    const adapters = lazyRealAdapters(config(), { webhookSender: make });
    const copy = { ...adapters, clock: adapters.clock };
    expect(counts.built).toBe(0);
    await copy.webhookSender.post('https://example.com/hook', '{}', {});
    await adapters.webhookSender.post('https://example.com/hook', '{}', {});
    expect(counts).toEqual({ built: 1, posts: 2 });
  });

  it('a target without the factory can still copy its adapters; only using the missing one fails, naming it', () => {
    const adapters = lazyRealAdapters(config(), {});
    expect(() => ({ ...adapters })).not.toThrow();
    expect(() => adapters.webhookSender.post).toThrow(/webhookSender adapter is not part of this function target's graph/);
    expect(() => adapters.schedulerVerifier.verify).toThrow(/schedulerVerifier adapter/);
  });

  it('keeps each Google-backed adapter once per graph', () => {
    const adapters = lazyRealAdapters(config(), {});
    expect(adapters.store).toBe(adapters.store);
    expect(adapters.publisher).toBe(adapters.publisher);
    expect(adapters.ee).toBe(adapters.ee);
    expect(adapters.logSink).toBe(adapters.logSink);
  });
});

describe("the instance's graph", () => {
  it('is built once from the environment; factories registered by targets loaded later still apply', async () => {
    Object.assign(process.env, env);
    installGraph(undefined);
    const first = instanceGraph();
    const { counts, make } = countingSender();
    const again = instanceGraph({ webhookSender: make });
    expect(again).toBe(first);
    expect(first.config.EE_PROJECT).toBe('ee-test');
    await first.adapters.webhookSender.post('https://example.com/hook', '{}', {});
    expect(counts.built).toBe(1);
  });

  it('an installed graph (tests, local stack) wins until it is removed', () => {
    Object.assign(process.env, env);
    const own = instanceGraph();
    const installed = { config: config(), adapters: lazyRealAdapters(config(), {}) };
    installGraph(installed);
    expect(instanceGraph()).toBe(installed);
    installGraph(undefined);
    expect(instanceGraph()).toBe(own);
  });
});
