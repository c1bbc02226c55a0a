/**
 * The local stack (tools/local-stack; its in-process store and broker) in a process of
 * its own, with the HTTP API in api-key mode, so that a test can read this process's
 * memory (/proc/<pid>/status) while the API answers hostile requests. Nothing else runs
 * in it: what grows is what the stack did.
 *
 *   node --import tsx test/reliability/lib/api-stack-child.ts
 *   EEPORT_API_KEY=<key>   the one API key
 *
 * Prints one JSON line on stdout when listening: {"ready": true, "api": "http://…/", "pollExports": "http://…/"}.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalStack } from '../../../tools/local-stack/stack.ts';

async function main(): Promise<void> {
  const key = process.env.EEPORT_API_KEY;
  if (!key) throw new Error('EEPORT_API_KEY is not set');
  const stateDir = mkdtempSync(join(tmpdir(), 'eeport-api-stack-child-'));
  const stack = await startLocalStack({
    mode: 'in-memory',
    ports: 'free',
    stateDir,
    env: { API_AUTH: 'api-key', API_KEYS: key, LOG_LEVEL: 'error' },
    print: (line) => void process.stderr.write(`${line}\n`),
  });
  const stop = async () => {
    await stack.stop();
    rmSync(stateDir, { recursive: true, force: true });
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.stdout.write(`${JSON.stringify({ ready: true, api: stack.functions.get('api')!.url, pollExports: stack.functions.get('pollExports')!.url })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`[api-stack-child] failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(2);
});
