/** URL → REST method mapping for the Earth Engine paths the simulator serves. */
import type { ApiMethod } from './faults.ts';
import type { ApiVersion } from './validate-export.ts';

export interface ApiRoute {
  method: ApiMethod;
  version: ApiVersion;
  project: string;
  operationId?: string;
  /** listImages: the collection's path under `projects/{project}/assets/`. */
  assetPath?: string;
  /** Fully qualified RPC name, as the service reports it in ErrorInfo metadata. */
  rpc: string;
}

const PREFIX = /^\/(v1|v1alpha|v1beta)\/projects\/([^/]+)\/(.+)$/;

const RPC: Record<ApiMethod, string> = {
  algorithms: 'google.earthengine.v1.EarthEngine.ListAlgorithms',
  export: 'google.earthengine.v1.EarthEngine.ExportImage',
  get: 'google.longrunning.Operations.GetOperation',
  list: 'google.longrunning.Operations.ListOperations',
  cancel: 'google.longrunning.Operations.CancelOperation',
  wait: 'google.longrunning.Operations.WaitOperation',
  delete: 'google.longrunning.Operations.DeleteOperation',
  listImages: 'google.earthengine.v1.EarthEngine.ListImages',
};

/**
 * Returns the route, or 'method-not-allowed' when the path exists with another HTTP
 * verb, or undefined for an unknown path.
 */
export function matchRoute(httpMethod: string, pathname: string): ApiRoute | 'method-not-allowed' | undefined {
  const m = PREFIX.exec(pathname);
  if (!m) return undefined;
  const version = m[1] as ApiVersion;
  const project = safeDecode(m[2] as string);
  const rest = safeDecode(m[3] as string);
  if (project === undefined || rest === undefined) return undefined;
  const make = (method: ApiMethod, verb: string, operationId?: string): ApiRoute | 'method-not-allowed' =>
    httpMethod === verb ? { method, version, project, operationId, rpc: RPC[method] } : 'method-not-allowed';

  if (rest === 'algorithms') return make('algorithms', 'GET');
  if (rest === 'image:export') return make('export', 'POST');
  if (rest === 'operations') return make('list', 'GET');
  const images = /^assets\/(.+):listImages$/.exec(rest);
  if (images) {
    const r = make('listImages', 'GET');
    return r === 'method-not-allowed' ? r : { ...r, assetPath: images[1] as string };
  }
  const op = /^operations\/([^/:]+)(?::(cancel|wait))?$/.exec(rest);
  if (!op) return undefined;
  const id = op[1] as string;
  if (op[2] === 'cancel') return make('cancel', 'POST', id);
  if (op[2] === 'wait') return make('wait', 'POST', id);
  if (httpMethod === 'DELETE') return make('delete', 'DELETE', id);
  return make('get', 'GET', id);
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}
