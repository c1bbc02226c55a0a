/**
 * Every deployable function target. Each entry module registers one target with the
 * functions framework; deployment bundles them one by one (see infra/).
 */
import './entry/submit-export.entry.ts';
import './entry/poll-exports.entry.ts';
import './entry/on-object-finalized.entry.ts';
import './entry/deliver-webhook.entry.ts';
import './entry/api.entry.ts';
