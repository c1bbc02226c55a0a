/**
 * The configuration the local stack gives eeport: loadConfig() input, built here and
 * never read from the shell (a GOOGLE_CLOUD_PROJECT or K_SERVICE left in the shell must
 * not leak into a local run). Overrides come explicitly, from `--env KEY=VALUE`.
 */
export const LOCAL_PROJECT = 'eeport-local';
export const LOCAL_EE_PROJECT = 'eeport-local-ee';
export const LOCAL_EE_TOKEN = 'local-simulator-token';
export const UPLOAD_BUCKET = 'eeport-local-uploads';
export const UPLOAD_RULE_NAME = 'local-geotiffs';

export interface LocalConfigInput {
  eeApiRoot: string;
  firestoreHost: string | null;
  pubsubHost: string | null;
  webhookSecret: string;
  pollEverySeconds: number;
  receiverUrl: string;
  overrides: Record<string, string>;
}

/** A rule claiming GeoTIFFs put under incoming/ in the local bucket: each becomes an Earth Engine asset. */
export function localUploadRules(receiverUrl: string): string {
  return JSON.stringify({
    rules: [
      {
        name: UPLOAD_RULE_NAME,
        match: { bucket: UPLOAD_BUCKET, prefix: 'incoming/', glob: 'incoming/**/*.tif', contentTypes: ['image/tiff'] },
        labels: { source: 'upload' },
        callbackUrl: `${receiverUrl}/hooks/uploads`,
        request: {
          description: 'upload-{{stem}}',
          assetExportOptions: { earthEngineDestination: { name: `projects/${LOCAL_EE_PROJECT}/assets/uploads/{{stem}}`, overwrite: true } },
        },
      },
    ],
  });
}

export function localEnv(i: LocalConfigInput): Record<string, string> {
  const env: Record<string, string> = {
    GOOGLE_CLOUD_PROJECT: LOCAL_PROJECT,
    EE_PROJECT: LOCAL_EE_PROJECT,
    EE_API_ROOT: i.eeApiRoot,
    EE_ACCESS_TOKEN: LOCAL_EE_TOKEN,
    // Short enough that a stuck call shows within seconds locally.
    EE_HTTP_TIMEOUT_MS: '10000',
    EE_RETRY_BASE_MS: '250',
    EE_RETRY_MAX_DELAY_MS: '2000',
    EE_RETRY_DEADLINE_MS: '20000',
    SUBMIT_LEASE_SECONDS: '40',
    // Says this is a local run: without it the local-only switches below (and API_AUTH=none) are refused.
    EEPORT_LOCAL: 'true',
    POLL_AUTH_DISABLED: 'true',
    // The scheduler stand-in ticks every few seconds; each tick keeps cycling until just before the next.
    POLL_WINDOW_SECONDS: String(Math.max(0, i.pollEverySeconds - 1)),
    POLL_INTERVAL_SECONDS: '2',
    POLL_MIN_INTERVAL_SECONDS: '1',
    POLL_STALE_SUBMIT_SECONDS: '30',
    RESUBMIT_BACKOFF_SECONDS: '5',
    WEBHOOK_ALLOW_HTTP: 'true',
    WEBHOOK_ALLOW_LOOPBACK: 'true',
    WEBHOOK_SECRETS: i.webhookSecret,
    WEBHOOK_RETRY_SCHEDULE_SECONDS: '0,2,5,10,30,60',
    WEBHOOK_TIMEOUT_MS: '5000',
    LOG_LEVEL: 'info',
    ...(i.firestoreHost ? { FIRESTORE_EMULATOR_HOST: i.firestoreHost } : {}),
    ...(i.pubsubHost ? { PUBSUB_EMULATOR_HOST: i.pubsubHost } : {}),
  };
  // Either source of rules may be overridden; the local rule applies only when neither is.
  if (i.overrides.UPLOAD_RULES === undefined && i.overrides.UPLOAD_RULES_FILE === undefined) env.UPLOAD_RULES = localUploadRules(i.receiverUrl);
  return { ...env, ...i.overrides };
}
