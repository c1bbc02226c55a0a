/** Webhooks: signed (Standard Webhooks) delivery of a job's or batch's events to its callback URL, with the retry schedule. */
export { createDeliverWebhook } from './deliver-webhook.ts';
export { generateSecret, verifyWebhook } from './webhook-signature.ts';
export type { VerifyFailure } from './webhook-signature.ts';
