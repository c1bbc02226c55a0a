/** Realistic requests, as the official clients send them: the shared samples (tools/samples/export-requests.ts). */
export { jsClientRequest, assetLoadRequest } from '../../tools/samples/export-requests.ts';
