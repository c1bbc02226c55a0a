/** The request and its envelope: the ExportImageRequest schema (as Earth Engine accepts it), eeProject, labels, callback URL policy, destination allowlists. */
export { EXPORT_REQUEST_SCHEMA_ID, exportRequestJsonSchema, parseExportRequest } from './export-request.schema.ts';
export type { ExportImageRequest } from './export-request.schema.ts';
export { ATTRIBUTE_NAMES, CallbackUrlSchema, EE_PROJECT_PATTERN, EeProjectSchema, RETIRED_EE_PROJECTS, LABEL_KEY_PATTERN, LABEL_VALUE_PATTERN, LabelsSchema, SubmitOptionsSchema, submitEnvelopeJsonSchema } from './envelope.schema.ts';
export type { Issue, SubmitOptions } from './envelope.schema.ts';
export { checkAddress, checkCallbackUrl, portRefusal } from './callback-url-policy.ts';
export type { CallbackUrlPolicy } from './callback-url-policy.ts';
export { ASSET_PREFIX_PATTERN, assetPrefixProblem, destinationIssues, exportPolicyIssues, underAssetPrefix } from './destination-policy.ts';
export type { DestinationRules, ExportPolicy } from './destination-policy.ts';
