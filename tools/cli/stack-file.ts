/**
 * The local stack's address book: `npm start` (tools/local-stack/) writes
 * `.eeport/stack.json` in the repository root while it runs, so that the CLI finds it
 * without flags.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository this CLI lives in (tools/cli/ → ../../). */
export const REPO_ROOT = resolve(fileURLToPath(new URL('../../', import.meta.url)));

export const DEFAULT_STACK_FILE = resolve(REPO_ROOT, '.eeport/stack.json');

/**
 * What the CLI reads from `.eeport/stack.json` (or the file named by `EEPORT_STACK_FILE`).
 * Every key is optional and any other key is ignored; a missing, unreadable or
 * malformed file is the same as no file (the CLI then uses its defaults). Keys relied on:
 *
 * - `apiUrl` — base URL of the `api` function, e.g. `"http://127.0.0.1:8182"`: the
 *   default target of every command when neither `--api` nor `EEPORT_API_URL` is given;
 * - `pubsubEmulatorHost` — `host:port` of the Pub/Sub emulator (or the in-memory broker
 *   that answers its REST calls), for `--via pubsub` when `PUBSUB_EMULATOR_HOST` is unset;
 * - `projectId` — the Google Cloud project holding the topics (`--via pubsub`), when
 *   neither `--cloud-project` nor `GOOGLE_CLOUD_PROJECT` is given;
 * - `requestsTopic` — the requests topic, when neither `--topic` nor `REQUESTS_TOPIC` is given;
 * - `eeProject` — the stack's default Earth Engine project (`EE_PROJECT`), used only to
 *   work out the job id of a request published with its own `requestId` and no `--project`.
 *
 * The Pub/Sub keys are used only when the API address came from this file too, so that
 * `--api https://…` never publishes to a local emulator by accident.
 */
export interface StackFile {
  path: string;
  apiUrl?: string;
  pubsubEmulatorHost?: string;
  projectId?: string;
  requestsTopic?: string;
  eeProject?: string;
}

/** Reads the stack file; null when there is none usable. Never throws. */
export function readStackFile(path: string = DEFAULT_STACK_FILE): StackFile | null {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return null;
  const o = raw as Record<string, unknown>;
  const str = (k: string) => (typeof o[k] === 'string' && (o[k] as string).trim() ? (o[k] as string).trim() : undefined);
  const out: StackFile = { path };
  const apiUrl = str('apiUrl');
  if (apiUrl && URL.canParse(apiUrl)) out.apiUrl = apiUrl;
  for (const k of ['pubsubEmulatorHost', 'projectId', 'requestsTopic', 'eeProject'] as const) {
    const v = str(k);
    if (v) out[k] = v;
  }
  return out;
}
