/**
 * Upload rules: which finalized Cloud Storage objects become exports, and how.
 *
 * The rules are configuration (UPLOAD_RULES_FILE or UPLOAD_RULES, read once per
 * instance): a JSON document kept in git next to the deployment, validated at start
 * so that a typo fails the deploy instead of rejecting every upload. Rules are tried
 * in order and the first match wins, so one upload is at most one job.
 *
 * A rule's `request` is an ExportImageRequest template: without `expression` the
 * object itself is loaded with Image.loadGeoTIFF; with one, that expression is used.
 * `{{placeholder}}`s in any string value of the template are replaced by facts of the
 * object (see PLACEHOLDERS).
 *
 * Pure: matching, templating and validation only; the object arrives already parsed.
 */
import { z } from 'zod';
import { CallbackUrlSchema, EeProjectSchema, LabelsSchema, EXPORT_REQUEST_SCHEMA_ID, exportRequestJsonSchema, parseExportRequest } from '../requests/index.ts';
import { compileGlob, globProblem } from './object-glob.ts';

/** A finalized Cloud Storage object, as the event adapter hands it over. */
export interface StorageObject {
  bucket: string;
  name: string;
  /** int64 as a decimal string: each overwrite of a name has a new generation. */
  generation: string;
  contentType: string | null;
}

// ---------------------------------------------------------------------------
// Placeholders
// ---------------------------------------------------------------------------

export const PLACEHOLDERS = {
  uri: 'gs://{bucket}/{name}, what Image.loadGeoTIFF loads',
  bucket: 'the bucket',
  name: 'the full object name, e.g. incoming/2024/scene.tif',
  basename: 'the name after the last "/", e.g. scene.tif',
  stem: 'the basename without its last extension, made safe for asset ids: every run of characters other than A-Z a-z 0-9 _ - becomes one "_" (e.g. "my scene.v2.tif" → "my_scene_v2")',
  generation: 'the object generation (decimal), distinct for every overwrite of a name',
} as const;
export type Placeholder = keyof typeof PLACEHOLDERS;

const PLACEHOLDER_RE = /\{\{([^{}]*)\}\}/g;
const isPlaceholder = (s: string): s is Placeholder => Object.hasOwn(PLACEHOLDERS, s);

/**
 * The placeholders whose values are one safe asset-id segment (letters, digits, _ and -),
 * whatever the object is called. The others carry the uploader's name as written, "/"
 * and ".." included, so `incoming/../../other-team/x.tif` could steer an export into
 * another folder of the asset tree: they may not appear in an asset id.
 */
export const ASSET_SAFE_PLACEHOLDERS: readonly Placeholder[] = ['stem', 'generation'];

/** Where a request template names the asset it writes. */
const ASSET_ID_PATHS = [['assetExportOptions', 'earthEngineDestination', 'name']];

/** Earth Engine asset ids take letters, digits, "_" and "-" (and "/" between folders). */
export function assetSafe(s: string): string {
  return s.replace(/[^A-Za-z0-9_-]+/g, '_');
}

export function placeholderValues(obj: StorageObject): Record<Placeholder, string> {
  const basename = obj.name.slice(obj.name.lastIndexOf('/') + 1);
  const dot = basename.lastIndexOf('.');
  // A leading dot (".tif") starts the name rather than an extension.
  const stem = dot > 0 ? basename.slice(0, dot) : basename;
  return { uri: `gs://${obj.bucket}/${obj.name}`, bucket: obj.bucket, name: obj.name, basename, stem: assetSafe(stem), generation: obj.generation };
}

/** Replaces placeholders in every string value (object keys are left alone). */
export function renderTemplate(value: unknown, values: Record<Placeholder, string>): unknown {
  if (typeof value === 'string') return value.replace(PLACEHOLDER_RE, (whole, name: string) => (isPlaceholder(name) ? values[name] : whole));
  if (Array.isArray(value)) return value.map((v) => renderTemplate(v, values));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderTemplate(v, values)]));
  }
  return value;
}

/** Every string value in a JSON value, with its path. */
function* strings(value: unknown, path: (string | number)[] = []): Generator<{ path: (string | number)[]; text: string }> {
  if (typeof value === 'string') yield { path, text: value };
  else if (Array.isArray(value)) for (const [i, v] of value.entries()) yield* strings(v, [...path, i]);
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) yield* strings(v, [...path, k]);
}

// ---------------------------------------------------------------------------
// The rule format
// ---------------------------------------------------------------------------

const BUCKET_NAME = /^[a-z0-9](?:[a-z0-9._-]{1,220}[a-z0-9])$/;
const CONTENT_TYPE_PATTERN = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/(?:\*|[a-z0-9][a-z0-9!#$&^_.+-]*)$/i;

const ObjectNamePart = z
  .string()
  .min(1)
  .max(1024, 'object names are at most 1024 bytes')
  .refine((s) => !s.startsWith('/'), 'object names have no leading "/"')
  .refine((s) => !s.startsWith('gs://'), 'is matched against the object name only; put the bucket in match.bucket');

const MatchSchema = z
  .strictObject({
    bucket: z.string().regex(BUCKET_NAME, 'must be a bucket name (no gs://, no path)').describe('The bucket, exactly'),
    prefix: ObjectNamePart.optional().describe('The object name starts with this (e.g. "incoming/")'),
    glob: z
      .string()
      .max(1024)
      .superRefine((g, ctx) => {
        const problem = globProblem(g);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional()
      .describe('The whole object name matches this glob: * within a segment, ? one character, ** any number of segments, \\ escapes'),
    contentTypes: z
      .array(z.string().regex(CONTENT_TYPE_PATTERN, 'must be a media type like "image/tiff" or "image/*"'))
      .min(1)
      .optional()
      .describe('The object content type is one of these (case-insensitive, parameters ignored; "image/*" matches any image type)'),
  })
  .describe('What the rule claims; every condition given must hold');

const RequestTemplateSchema = z
  .record(z.string(), z.unknown())
  .superRefine((req, ctx) => {
    if ('requestId' in req) {
      ctx.addIssue({ code: 'custom', path: ['requestId'], message: 'cannot be set by a rule: eeport derives it from the upload, so that one upload is one job and one Earth Engine task' });
    }
    for (const { path, text } of strings(req)) {
      const assetId = ASSET_ID_PATHS.some((p) => p.length === path.length && p.every((seg, i) => seg === path[i]));
      for (const [, name] of text.matchAll(PLACEHOLDER_RE)) {
        if (!isPlaceholder(name!)) ctx.addIssue({ code: 'custom', path, message: `unknown placeholder {{${name}}}; known: ${Object.keys(PLACEHOLDERS).map((p) => `{{${p}}}`).join(', ')}` });
        else if (assetId && !ASSET_SAFE_PLACEHOLDERS.includes(name)) {
          ctx.addIssue({
            code: 'custom',
            path,
            message: `{{${name}}} may not be used in an asset id: it can carry "/" or ".." from the object name and so reach another folder; use ${ASSET_SAFE_PLACEHOLDERS.map((p) => `{{${p}}}`).join(' or ')}`,
          });
        }
      }
    }
    if ('expression' in req && ![...strings(req.expression)].some(({ text }) => text.match(PLACEHOLDER_RE))) {
      ctx.addIssue({ code: 'custom', path: ['expression'], message: 'never mentions the upload (no placeholder such as {{uri}}), so every upload would export the same image' });
    }
  })
  .describe('An ExportImageRequest without requestId; expression optional (default: Image.loadGeoTIFF of {{uri}}); placeholders in string values');

const RULE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export const UploadRuleSchema = z
  .strictObject({
    name: z.string().regex(RULE_NAME, 'must be 1–63 letters, digits, ".", "_" or "-", starting with a letter or digit').describe('Names the rule in logs and errors'),
    match: MatchSchema,
    eeProject: EeProjectSchema.optional().describe('Earth Engine project to run in; default EE_PROJECT (or, with tenant, the tenant’s first)'),
    tenant: z.string().min(1).optional().describe('The tenant (TENANTS) whose jobs these uploads become; its rules on projects, buckets and asset folders apply'),
    labels: LabelsSchema.optional().describe('Labels copied onto the job and its events'),
    callbackUrl: CallbackUrlSchema.optional().describe('Webhook called (signed) when the job ends'),
    request: RequestTemplateSchema,
  })
  .superRefine((rule, ctx) => {
    // Render against a made-up object now, so a mistake in the template fails at start
    // rather than turning every upload into a REJECTED job. What depends on the real
    // object (a name too long for `description`) can still reject an upload.
    const sample: StorageObject = { bucket: rule.match.bucket, name: `${rule.match.prefix ?? ''}sample.tif`, generation: '1', contentType: 'image/tiff' };
    const parsed = parseExportRequest(buildUploadRequest(rule, sample));
    if (!parsed.ok) {
      for (const e of parsed.errors) ctx.addIssue({ code: 'custom', path: e.path === '(root)' ? ['request'] : ['request', e.path], message: e.message });
    }
  });
export type UploadRule = z.output<typeof UploadRuleSchema>;

export const UploadRulesSchema = z
  .strictObject({
    $schema: z.string().optional().describe('Where editors find this schema; ignored'),
    rules: z
      .array(UploadRuleSchema)
      .superRefine((rules, ctx) => {
        const seen = new Set<string>();
        rules.forEach((r, i) => {
          if (seen.has(r.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate rule name "${r.name}"` });
          seen.add(r.name);
        });
      })
      .describe('Tried in order; the first rule that matches an object wins, later ones are not consulted'),
  })
  .describe('eeport upload rules');

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

function formatPath(path: readonly PropertyKey[], input: unknown): string {
  let out = '';
  for (const [i, seg] of path.entries()) {
    if (typeof seg === 'number') {
      out += `[${seg}]`;
      // Name the rule: "rules[2] (cogs)" is easier to find than an index.
      if (i === 1 && path[0] === 'rules') {
        const name = (input as { rules?: { name?: unknown }[] })?.rules?.[seg]?.name;
        if (typeof name === 'string') out += ` (${name})`;
      }
    } else out += out ? `.${String(seg)}` : String(seg);
  }
  return out || '(root)';
}

export type ParseUploadRulesResult = { ok: true; rules: UploadRule[] } | { ok: false; errors: string[] };

/** Parses a rules document (JSON text). Never throws; errors name the rule and the path. */
/** What a rule may name: the deployment's projects, and each tenant's (by id). */
export interface UploadRulesPolicy {
  allowedEeProjects: readonly string[];
  tenantProjects?: ReadonlyMap<string, readonly string[]>;
}

export function parseUploadRules(text: string, policy: UploadRulesPolicy = { allowedEeProjects: [] }): ParseUploadRulesResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, errors: [`not valid JSON: ${(err as Error).message}`] };
  }
  const parsed = UploadRulesSchema.safeParse(json);
  if (!parsed.success) return { ok: false, errors: parsed.error.issues.map((i) => `${formatPath(i.path, json)}: ${i.message}`) };
  // Checked here as well as at intake, where it would reject every upload the rule claims.
  const errors = parsed.data.rules.flatMap((r, i) => {
    if (r.tenant !== undefined) {
      const projects = policy.tenantProjects?.get(r.tenant);
      if (!projects) return [`rules[${i}] (${r.name}).tenant: "${r.tenant}" is not a tenant in TENANTS`];
      return r.eeProject && !projects.includes(r.eeProject) ? [`rules[${i}] (${r.name}).eeProject: "${r.eeProject}" is not one of tenant ${r.tenant}'s eeProjects (${projects.join(', ')})`] : [];
    }
    return r.eeProject && policy.allowedEeProjects.length && !policy.allowedEeProjects.includes(r.eeProject)
      ? [`rules[${i}] (${r.name}).eeProject: "${r.eeProject}" is not in EE_ALLOWED_PROJECTS (${policy.allowedEeProjects.join(', ')})`]
      : [];
  });
  return errors.length ? { ok: false, errors } : { ok: true, rules: parsed.data.rules };
}

/**
 * Rules from exactly one source: the file named by UPLOAD_RULES_FILE or the inline
 * JSON of UPLOAD_RULES (neither: no rules, every upload is ignored). Problems come
 * back prefixed with the variable, for the configuration error.
 */
export function loadUploadRules(
  source: { inline?: string | undefined; file?: string | undefined },
  readFile: (path: string) => string,
  policy: UploadRulesPolicy,
): { rules: UploadRule[]; problems: string[] } {
  if (source.inline !== undefined && source.file !== undefined) {
    return { rules: [], problems: ['UPLOAD_RULES and UPLOAD_RULES_FILE are both set; set one of them'] };
  }
  let text = source.inline;
  const variable = source.file !== undefined ? 'UPLOAD_RULES_FILE' : 'UPLOAD_RULES';
  if (source.file !== undefined) {
    try {
      text = readFile(source.file);
    } catch (err) {
      return { rules: [], problems: [`UPLOAD_RULES_FILE: cannot read ${source.file}: ${(err as Error).message}`] };
    }
  }
  if (text === undefined) return { rules: [], problems: [] };
  const r = parseUploadRules(text, policy);
  return r.ok ? { rules: r.rules, problems: [] } : { rules: [], problems: r.errors.map((e) => `${variable}: ${e}`) };
}

// ---------------------------------------------------------------------------
// Matching and building
// ---------------------------------------------------------------------------

const mediaType = (contentType: string) => contentType.split(';')[0]!.trim().toLowerCase();

function contentTypeMatches(patterns: readonly string[], contentType: string | null): boolean {
  if (contentType === null) return false;
  const actual = mediaType(contentType);
  return patterns.some((p) => {
    const want = p.toLowerCase();
    return want.endsWith('/*') ? actual.startsWith(want.slice(0, -1)) : actual === want;
  });
}

export interface UploadRouter {
  /** The first rule that claims the object, or undefined. */
  match(obj: StorageObject): UploadRule | undefined;
}

/** Compiles the globs once (per instance), so matching an upload is a few regex tests. */
export function createUploadRouter(rules: readonly UploadRule[]): UploadRouter {
  const compiled = rules.map((rule) => ({ rule, glob: rule.match.glob === undefined ? undefined : compileGlob(rule.match.glob) }));
  return {
    match(obj) {
      return compiled.find(
        ({ rule: { match }, glob }) =>
          match.bucket === obj.bucket &&
          (match.prefix === undefined || obj.name.startsWith(match.prefix)) &&
          (glob === undefined || glob(obj.name)) &&
          (match.contentTypes === undefined || contentTypeMatches(match.contentTypes, obj.contentType)),
      )?.rule;
    },
  };
}

/** The expression of a rule without one: the uploaded Cloud-Optimized GeoTIFF itself. */
export function loadGeoTiffExpression(uri: string) {
  return { result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.loadGeoTIFF', arguments: { uri: { constantValue: uri } } } } } };
}

/** The ExportImageRequest body a rule makes of an object: not yet validated (intake does that). */
export function buildUploadRequest(rule: Pick<UploadRule, 'request'>, obj: StorageObject): Record<string, unknown> {
  const values = placeholderValues(obj);
  const body = renderTemplate(rule.request, values) as Record<string, unknown>;
  return 'expression' in body ? body : { expression: loadGeoTiffExpression(values.uri), ...body };
}

// ---------------------------------------------------------------------------
// JSON Schema
// ---------------------------------------------------------------------------

export const UPLOAD_RULES_SCHEMA_ID = 'urn:eeport:schema:upload-rules:v1';

/**
 * JSON Schema (draft 2020-12) of the rules document, for editors and review. The
 * request template points into the ExportImageRequest schema field by field (it
 * cannot $ref the whole: `expression` is optional here and `requestId` forbidden).
 * Patterns apply to the template as written, before placeholders are replaced; the
 * checks JSON Schema cannot state (placeholders, the sample render, globs) are made
 * by parseUploadRules at start.
 */
export function uploadRulesJsonSchema(requestSchema: Record<string, unknown> = exportRequestJsonSchema()): Record<string, unknown> {
  const base = z.toJSONSchema(UploadRulesSchema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  const requestProps = Object.keys(requestSchema.properties as Record<string, unknown>).filter((k) => k !== 'requestId');
  const template = {
    description: RequestTemplateSchema.description,
    type: 'object',
    properties: Object.fromEntries(requestProps.map((k) => [k, { $ref: `${EXPORT_REQUEST_SCHEMA_ID}#/properties/${k}` }])),
    additionalProperties: false,
    ...(requestSchema.oneOf ? { oneOf: requestSchema.oneOf } : {}),
  };
  const rules = (base.properties as { rules: { items: { properties: Record<string, unknown> } } }).rules;
  rules.items.properties.request = template;
  const { $schema, ...rest } = base;
  return {
    $schema,
    $id: UPLOAD_RULES_SCHEMA_ID,
    title: 'eeport upload rules',
    ...rest,
  };
}
