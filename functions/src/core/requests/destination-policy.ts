/**
 * Where an export may write. eeport calls Earth Engine with its own credentials, so a
 * request naming a bucket or an asset folder writes there as eeport, wherever eeport's
 * service account may write. These allowlists keep callers to the places the
 * deployment (or their tenant) was given. Checked at intake on every way in, and again
 * before each call to image:export, so a job queued (or resubmitted) under an older
 * configuration cannot write where the current one forbids.
 */
import type { ExportImageRequest } from './export-request.schema.ts';
import type { Issue } from './envelope.schema.ts';

/** Absent lists allow anything; an empty list allows nothing of that kind. */
export interface DestinationRules {
  /** Buckets file exports may write to. Set, Drive destinations are refused: the files would land in eeport's own Drive. */
  exportBuckets?: readonly string[];
  /** Asset-name prefixes (`projects/p/assets/folder`) asset exports may write under, matched by whole path segments. */
  assetPrefixes?: readonly string[];
}

/** `projects/{project}/assets[/{folder}…]`, without a trailing slash or empty, `.` or `..` segments. */
export const ASSET_PREFIX_PATTERN = /^projects\/[^/\s]+\/assets(?:\/(?!\.\.?(?:\/|$))[^/\s]+)*$/;

/** Why an asset prefix from the configuration is unusable, or null. */
export function assetPrefixProblem(prefix: string): string | null {
  return ASSET_PREFIX_PATTERN.test(prefix) ? null : `"${prefix}" is not an asset prefix like projects/my-project/assets/folder (no trailing "/", no "." or ".." segments)`;
}

const listed = (xs: readonly string[]) => (xs.length ? xs.join(', ') : 'none');

/** True when `name` is `prefix` or lies under it, segment by segment. */
export function underAssetPrefix(name: string, prefix: string): boolean {
  return name === prefix || name.startsWith(`${prefix}/`);
}

/**
 * The destinations of a request the rules refuse, each by the path of the field that
 * names it (relative to the request). Empty when the request may go ahead.
 */
export function destinationIssues(request: ExportImageRequest, rules: DestinationRules): Issue[] {
  const issues: Issue[] = [];
  const file = request.fileExportOptions;
  if (file && rules.exportBuckets) {
    const bucket = file.cloudStorageDestination?.bucket;
    if (bucket !== undefined && !rules.exportBuckets.includes(bucket)) {
      issues.push({ path: 'fileExportOptions.cloudStorageDestination.bucket', message: `bucket "${bucket}" is not one exports may write to (allowed: ${listed(rules.exportBuckets)})` });
    }
    if (file.driveDestination !== undefined) {
      issues.push({ path: 'fileExportOptions.driveDestination', message: `Drive destinations are refused where export buckets are listed; write to one of: ${listed(rules.exportBuckets)}` });
    }
  }
  const asset = request.assetExportOptions?.earthEngineDestination?.name;
  if (asset !== undefined && rules.assetPrefixes) {
    // "." and ".." are no folder Earth Engine has, but refused anyway: a prefix check must not depend on how a service reads them.
    const dotted = asset.split('/').some((s) => s === '.' || s === '..');
    if (dotted || !rules.assetPrefixes.some((p) => underAssetPrefix(asset, p))) {
      issues.push({
        path: 'assetExportOptions.earthEngineDestination.name',
        message: dotted ? `asset "${asset}" has a "." or ".." segment` : `asset "${asset}" is not under a folder exports may write to (allowed: ${listed(rules.assetPrefixes)})`,
      });
    }
  }
  return issues;
}

/** Which Earth Engine projects and destinations a way in accepts. */
export interface ExportPolicy {
  /** When non-empty, only these Earth Engine projects. */
  allowedEeProjects: readonly string[];
  destinations?: DestinationRules;
}

/** Everything the policy refuses about an export in `eeProject`, by path ("eeProject", or a path into the request). */
export function exportPolicyIssues(eeProject: string, request: ExportImageRequest, policy: ExportPolicy): Issue[] {
  const issues: Issue[] = [];
  if (policy.allowedEeProjects.length && !policy.allowedEeProjects.includes(eeProject)) {
    issues.push({ path: 'eeProject', message: `Earth Engine project "${eeProject}" is not one this deployment serves (allowed: ${policy.allowedEeProjects.join(', ')})` });
  }
  return [...issues, ...destinationIssues(request, policy.destinations ?? {})];
}
