/** Public face of the webhooks capability. */
export { createDeliverWebhook } from './deliver-webhook.ts';
export { generateSecret, verifyWebhook } from './webhook-signature.ts';
export type { VerifyFailure } from './webhook-signature.ts';
