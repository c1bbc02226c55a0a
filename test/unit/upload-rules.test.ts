import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  PLACEHOLDERS,
  UPLOAD_RULES_SCHEMA_ID,
  assetSafe,
  buildUploadRequest,
  createUploadRouter,
  loadUploadRules,
  parseUploadRules,
  placeholderValues,
  renderTemplate,
  uploadRulesJsonSchema,
  type StorageObject,
  type UploadRule,
} from '../../functions/src/core/uploads/upload-rules.ts';
import { exportRequestJsonSchema, parseExportRequest } from '../../functions/src/core/requests/export-request.schema.ts';
import { ConfigError, loadConfig } from '../../functions/src/config.ts';

const obj = (name: string, over: Partial<StorageObject> = {}): StorageObject => ({ bucket: 'my-uploads', name, generation: '1718000000000000', contentType: 'image/tiff', ...over });

const GCS_REQUEST = { fileExportOptions: { cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: 'exports/{{stem}}' }, fileFormat: 'GEO_TIFF' } };

const rule = (name: string, match: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ name, match: { bucket: 'my-uploads', ...match }, request: GCS_REQUEST, ...extra });

function rules(...list: unknown[]): UploadRule[] {
  const r = parseUploadRules(JSON.stringify({ rules: list }));
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.rules;
}

describe('placeholders', () => {
  it.each([
    // [object name, basename, stem]
    ['incoming/2024/my scene.v2.tif', 'my scene.v2.tif', 'my_scene_v2'],
    ['scene.tif', 'scene.tif', 'scene'],
    ['a/b/no-extension', 'no-extension', 'no-extension'],
    ['a/.tif', '.tif', '_tif'],
    ['a/archive.tar.gz', 'archive.tar.gz', 'archive_tar'],
    ['a/Ünïcödé naïve (1).TIF', 'Ünïcödé naïve (1).TIF', '_n_c_d_na_ve_1_'],
    ['folder/', '', ''],
    ['x/a__b--c.tif', 'a__b--c.tif', 'a__b--c'],
  ])('%j → basename %j, stem %j', (name, basename, stem) => {
    const v = placeholderValues(obj(name));
    expect(v).toEqual({ uri: `gs://my-uploads/${name}`, bucket: 'my-uploads', name, basename, stem, generation: '1718000000000000' });
    expect(stem).toMatch(/^[A-Za-z0-9_-]*$/);
  });

  it('assetSafe keeps letters, digits, "_" and "-", and squeezes every other run to one "_"', () => {
    expect(assetSafe('a b\tc..d/e:f')).toBe('a_b_c_d_e_f');
    expect(assetSafe('Keep_this-123')).toBe('Keep_this-123');
    expect(assetSafe('🛰️ orbit')).toBe('_orbit');
  });

  it('renders every string value, nested in objects and arrays, and never keys', () => {
    const values = placeholderValues(obj('in/x y.tif'));
    const out = renderTemplate({ '{{stem}}': 'k', a: ['{{uri}}', 1, true, null, { b: '{{bucket}}/{{name}}#{{generation}}' }], c: 'no placeholder', d: '{{basename}}{{basename}}' }, values);
    expect(out).toEqual({ '{{stem}}': 'k', a: ['gs://my-uploads/in/x y.tif', 1, true, null, { b: 'my-uploads/in/x y.tif#1718000000000000' }], c: 'no placeholder', d: 'x y.tifx y.tif' });
  });

  it('replacement text is taken literally ($& in a name is not a regex back-reference)', () => {
    expect(renderTemplate('{{name}}', placeholderValues(obj("a/$&$'.tif")))).toBe("a/$&$'.tif");
  });

  it('documents every placeholder', () => {
    expect(Object.keys(PLACEHOLDERS).sort()).toEqual(['basename', 'bucket', 'generation', 'name', 'stem', 'uri']);
  });
});

describe('matching', () => {
  const ordered = rules(
    rule('tiffs-only', { prefix: 'typed/', contentTypes: ['image/tiff'] }),
    rule('any-image', { prefix: 'typed/', contentTypes: ['image/*'] }),
    rule('cogs', { glob: 'incoming/**/*.tif' }),
    rule('prefix-and-glob', { prefix: 'both/', glob: '**/*.tif' }),
    rule('incoming-fallback', { prefix: 'incoming/' }),
    rule('other-bucket', { bucket: 'other-bucket' }),
  );
  const router = createUploadRouter(ordered);

  // [object, rule expected (undefined: ignored)]
  const CASES: [StorageObject, string | undefined][] = [
    [obj('incoming/a.tif'), 'cogs'],
    [obj('incoming/2024/06/a.tif'), 'cogs'],
    [obj('incoming/a.png'), 'incoming-fallback'],
    [obj('incoming/a.tif', { bucket: 'my-uploads-2' }), undefined],
    [obj('incoming/a.tif', { bucket: 'other-bucket' }), 'other-bucket'],
    [obj('Incoming/a.tif'), undefined],
    [obj('elsewhere/a.tif'), undefined],
    [obj('typed/a.tif'), 'tiffs-only'],
    [obj('typed/a.tif', { contentType: 'IMAGE/TIFF; charset=binary' }), 'tiffs-only'],
    [obj('typed/a.png', { contentType: 'image/png' }), 'any-image'],
    [obj('typed/a.txt', { contentType: 'text/plain' }), undefined],
    [obj('typed/a.tif', { contentType: null }), undefined],
    [obj('both/x/a.tif'), 'prefix-and-glob'],
    [obj('both/x/a.png'), undefined],
  ];

  it.each(CASES)('%j → %s', (o, expected) => {
    expect(router.match(o)?.name).toBe(expected);
  });

  it('the first matching rule wins, whatever comes later', () => {
    const r = createUploadRouter(rules(rule('first', { prefix: 'a/' }), rule('second', { glob: 'a/*.tif' })));
    expect(r.match(obj('a/x.tif'))?.name).toBe('first');
    const swapped = createUploadRouter(rules(rule('second', { glob: 'a/*.tif' }), rule('first', { prefix: 'a/' })));
    expect(swapped.match(obj('a/x.tif'))?.name).toBe('second');
  });

  it('a rule with only a bucket claims every object in it', () => {
    expect(createUploadRouter(rules(rule('all', {}))).match(obj('any/thing'))?.name).toBe('all');
  });

  it('no rules: nothing matches', () => {
    expect(createUploadRouter([]).match(obj('incoming/a.tif'))).toBeUndefined();
  });
});

describe('building the request', () => {
  it('by default loads the object with Image.loadGeoTIFF and fills the destination', () => {
    const [r] = rules(rule('cogs', { glob: '**/*.tif' }, { request: { description: 'upload {{basename}}', ...GCS_REQUEST } }));
    const body = buildUploadRequest(r!, obj('incoming/my scene.tif'));
    expect(body).toEqual({
      expression: { result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.loadGeoTIFF', arguments: { uri: { constantValue: 'gs://my-uploads/incoming/my scene.tif' } } } } } },
      description: 'upload my scene.tif',
      fileExportOptions: { cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: 'exports/my_scene' }, fileFormat: 'GEO_TIFF' },
    });
    expect(parseExportRequest(body).ok).toBe(true);
  });

  it('an asset destination gets the sanitised stem', () => {
    const [r] = rules(rule('assets', {}, { request: { assetExportOptions: { earthEngineDestination: { name: 'projects/p/assets/uploads/{{stem}}' } } } }));
    const body = buildUploadRequest(r!, obj('in/Scene (copy) 2.v1.tif'));
    expect(body.assetExportOptions).toEqual({ earthEngineDestination: { name: 'projects/p/assets/uploads/Scene_copy_2_v1' } });
    expect(parseExportRequest(body).ok).toBe(true);
  });

  it('a template expression gets the URI in place of {{uri}}, and no default expression', () => {
    const expression = {
      result: '0',
      values: {
        '0': {
          functionInvocationValue: {
            functionName: 'Image.clipToBoundsAndScale',
            arguments: { input: { functionInvocationValue: { functionName: 'Image.loadGeoTIFF', arguments: { uri: { constantValue: '{{uri}}' } } } }, scale: { constantValue: 30 } },
          },
        },
      },
    };
    const [r] = rules(rule('tpl', {}, { request: { expression, ...GCS_REQUEST } }));
    const body = buildUploadRequest(r!, obj('x/a.tif'));
    const values = (body.expression as typeof expression).values['0'].functionInvocationValue.arguments;
    expect(values.input.functionInvocationValue.arguments.uri.constantValue).toBe('gs://my-uploads/x/a.tif');
    expect(values.scale.constantValue).toBe(30);
    expect(JSON.stringify(body)).not.toContain('{{');
  });

  it('does not change the rule it was built from', () => {
    const [r] = rules(rule('cogs', {}));
    const before = JSON.stringify(r);
    buildUploadRequest(r!, obj('a.tif'));
    expect(JSON.stringify(r)).toBe(before);
  });
});

describe('parseUploadRules: refused at start, naming the rule and the path', () => {
  const ok = rule('ok', {});
  // [what, rules document, error that must appear]
  const BAD: [string, unknown, RegExp][] = [
    ['not an object', [], /\(root\)/],
    ['rules missing', {}, /rules/],
    ['unknown top-level field', { rules: [], rule: [] }, /rule/],
    ['duplicate names', { rules: [ok, ok] }, /rules\[1\] \(ok\)\.name: duplicate rule name "ok"/],
    ['bad rule name', { rules: [{ ...ok, name: 'has space' }] }, /name/],
    ['unknown rule field', { rules: [{ ...ok, destination: {} }] }, /rules\[0\] \(ok\).*destination/],
    ['no match', { rules: [{ name: 'm', request: GCS_REQUEST }] }, /rules\[0\] \(m\)\.match/],
    ['bucket with gs://', { rules: [rule('b', { bucket: 'gs://my-uploads' })] }, /match\.bucket: must be a bucket name/],
    ['bucket with a path', { rules: [rule('b', { bucket: 'my-uploads/incoming' })] }, /match\.bucket/],
    ['prefix with a leading slash', { rules: [rule('p', { prefix: '/incoming/' })] }, /match\.prefix: object names have no leading "\/"/],
    ['glob with braces', { rules: [rule('g', { glob: '*.{tif,tiff}' })] }, /match\.glob: uses "\{"/],
    ['glob with gs://', { rules: [rule('g', { glob: 'gs://my-uploads/*.tif' })] }, /match\.glob: .*match\.bucket/],
    ['bad content type', { rules: [rule('c', { contentTypes: ['tiff'] })] }, /match\.contentTypes\[0\]: must be a media type/],
    ['empty content types', { rules: [rule('c', { contentTypes: [] })] }, /contentTypes/],
    ['bad eeProject', { rules: [{ ...ok, eeProject: 'Not A Project' }] }, /eeProject/],
    ['bad label', { rules: [{ ...ok, labels: { Team: 'x' } }] }, /labels/],
    ['bad callbackUrl', { rules: [{ ...ok, callbackUrl: 'ftp://x/y' }] }, /callbackUrl/],
    ['requestId in the template', { rules: [{ ...ok, request: { ...GCS_REQUEST, requestId: 'abc' } }] }, /request\.requestId: cannot be set by a rule/],
    ['unknown placeholder', { rules: [{ ...ok, request: { ...GCS_REQUEST, description: 'upload {{filename}}' } }] }, /request\.description: unknown placeholder \{\{filename\}\}/],
    ['placeholder with spaces', { rules: [{ ...ok, request: { ...GCS_REQUEST, description: '{{ stem }}' } }] }, /unknown placeholder \{\{ stem \}\}/],
    ['expression that ignores the upload', { rules: [{ ...ok, request: { ...GCS_REQUEST, expression: { result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: 'projects/p/assets/a' } } } } } } } }] }, /request\.expression: never mentions the upload/],
    ['no destination', { rules: [{ ...ok, request: { description: 'd' } }] }, /rules\[0\] \(ok\)\.request/],
    ['both destinations', { rules: [{ ...ok, request: { ...GCS_REQUEST, assetExportOptions: { earthEngineDestination: { name: 'projects/p/assets/x' } } } }] }, /request/],
    ['bad file format', { rules: [{ ...ok, request: { fileExportOptions: { driveDestination: {}, fileFormat: 'BMP' } } }] }, /request\.fileExportOptions\.fileFormat: must be GEO_TIFF or TF_RECORD_IMAGE/],
    ['misspelt field', { rules: [{ ...ok, request: { fileExportOption: {} } }] }, /fileExportOption/],
    ['bad asset name template', { rules: [{ ...ok, request: { assetExportOptions: { earthEngineDestination: { name: 'uploads/{{stem}}' } } } }] }, /request\.assetExportOptions\.earthEngineDestination\.name/],
    ...(['name', 'basename', 'uri', 'bucket'] as const).map((p): [string, unknown, RegExp] => [
      `{{${p}}} in an asset id (it can carry "/" or "..")`,
      { rules: [{ ...ok, request: { assetExportOptions: { earthEngineDestination: { name: `projects/p/assets/uploads/{{${p}}}` } } } }] },
      new RegExp(`rules\\[0\\] \\(ok\\)\\.request\\.assetExportOptions\\.earthEngineDestination\\.name: \\{\\{${p}\\}\\} may not be used in an asset id.*use \\{\\{stem\\}\\} or \\{\\{generation\\}\\}`),
    ]),
    ['request not an object', { rules: [{ ...ok, request: 'x' }] }, /request/],
  ];

  it.each(BAD)('%s', (_what, doc, error) => {
    const r = parseUploadRules(JSON.stringify(doc));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.join('\n')).toMatch(error);
  });

  it('{{stem}} and {{generation}} are one safe segment whatever the object is called; the others stay allowed outside asset ids', () => {
    const [r] = rules({ ...ok, request: { description: 'upload {{basename}}', assetExportOptions: { earthEngineDestination: { name: 'projects/p/assets/uploads/{{stem}}-{{generation}}' } } } });
    const built = buildUploadRequest(r!, obj('incoming/../../other-team/../x.y.tif'));
    expect((built.assetExportOptions as { earthEngineDestination: { name: string } }).earthEngineDestination.name).toBe('projects/p/assets/uploads/x_y-1718000000000000');
    expect(rules({ ...ok, request: { ...GCS_REQUEST, description: '{{name}}', fileExportOptions: { ...GCS_REQUEST.fileExportOptions } } })).toHaveLength(1);
  });

  it('a rule with {{name}} in its asset id fails the start, named (loadConfig)', () => {
    const doc = JSON.stringify({ rules: [{ ...ok, name: 'steered', request: { assetExportOptions: { earthEngineDestination: { name: 'projects/ee-test-project/assets/{{name}}' } } } }] });
    expect(() => loadConfig({ EE_PROJECT: 'ee-test-project', UPLOAD_RULES: doc })).toThrow(/UPLOAD_RULES: rules\[0\] \(steered\)\.request\.assetExportOptions\.earthEngineDestination\.name: \{\{name\}\} may not be used in an asset id/);
  });

  it('not JSON', () => {
    expect(parseUploadRules('{rules: []}')).toEqual({ ok: false, errors: [expect.stringMatching(/^not valid JSON/)] });
  });

  it('an eeProject outside EE_ALLOWED_PROJECTS', () => {
    const doc = JSON.stringify({ rules: [{ ...ok, eeProject: 'someone-else' }] });
    expect(parseUploadRules(doc, { allowedEeProjects: ['ee-test-project'] })).toEqual({ ok: false, errors: [expect.stringMatching(/rules\[0\] \(ok\)\.eeProject: "someone-else" is not in EE_ALLOWED_PROJECTS/)] });
    expect(parseUploadRules(doc, { allowedEeProjects: [] }).ok).toBe(true);
  });

  it('accepts an empty rule list and a $schema key', () => {
    expect(parseUploadRules('{"$schema":"./docs/schemas/upload-rules.schema.json","rules":[]}')).toEqual({ ok: true, rules: [] });
  });

  it('a request valid with a short name may still be invalid for a real object (checked per upload)', () => {
    const [r] = rules({ ...ok, request: { ...GCS_REQUEST, description: '{{name}}' } });
    expect(parseExportRequest(buildUploadRequest(r!, obj(`long/${'n'.repeat(120)}.tif`))).ok).toBe(false);
  });
});

describe('loadUploadRules (UPLOAD_RULES / UPLOAD_RULES_FILE)', () => {
  const doc = JSON.stringify({ rules: [rule('cogs', { glob: '**/*.tif' })] });
  const noFile = (p: string): string => {
    throw new Error(`ENOENT: no such file, open '${p}'`);
  };
  const policy = { allowedEeProjects: [] };

  it('neither set: no rules, no problems', () => {
    expect(loadUploadRules({}, noFile, policy)).toEqual({ rules: [], problems: [] });
  });
  it('inline', () => {
    expect(loadUploadRules({ inline: doc }, noFile, policy).rules.map((r) => r.name)).toEqual(['cogs']);
  });
  it('a file', () => {
    expect(loadUploadRules({ file: 'rules.json' }, (p) => (p === 'rules.json' ? doc : noFile(p)), policy).rules.map((r) => r.name)).toEqual(['cogs']);
  });
  it('both: refused', () => {
    expect(loadUploadRules({ inline: doc, file: 'rules.json' }, () => doc, policy).problems).toEqual(['UPLOAD_RULES and UPLOAD_RULES_FILE are both set; set one of them']);
  });
  it('a missing file: names the variable and the path', () => {
    expect(loadUploadRules({ file: 'nope.json' }, noFile, policy).problems[0]).toMatch(/^UPLOAD_RULES_FILE: cannot read nope\.json: ENOENT/);
  });
  it('errors are prefixed with the variable they came from', () => {
    expect(loadUploadRules({ inline: '{"rules":[{}]}' }, noFile, policy).problems[0]).toMatch(/^UPLOAD_RULES: rules\[0\]/);
    expect(loadUploadRules({ file: 'f' }, () => '[', policy).problems[0]).toMatch(/^UPLOAD_RULES_FILE: not valid JSON/);
  });
});

describe('loadConfig reads the rules once, failing at start', () => {
  const base = { EE_PROJECT: 'ee-test-project' };
  const doc = JSON.stringify({ rules: [rule('cogs', { glob: '**/*.tif' })] });

  it('no rules by default', () => {
    expect(loadConfig(base).uploadRules).toEqual([]);
  });
  it('from UPLOAD_RULES', () => {
    expect(loadConfig({ ...base, UPLOAD_RULES: doc }).uploadRules.map((r) => r.name)).toEqual(['cogs']);
  });
  it('from UPLOAD_RULES_FILE', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eeport-rules-'));
    writeFileSync(join(dir, 'rules.json'), doc);
    expect(loadConfig({ ...base, UPLOAD_RULES_FILE: join(dir, 'rules.json') }).uploadRules.map((r) => r.name)).toEqual(['cogs']);
  });
  it.each([
    [{ UPLOAD_RULES: '{"rules":[{"name":"x"}]}' }, /UPLOAD_RULES: rules\[0\] \(x\)\.match/],
    [{ UPLOAD_RULES_FILE: '/nonexistent/rules.json' }, /UPLOAD_RULES_FILE: cannot read \/nonexistent\/rules\.json/],
    [{ UPLOAD_RULES: doc, UPLOAD_RULES_FILE: 'x.json' }, /both set/],
    [{ UPLOAD_RULES: JSON.stringify({ rules: [rule('p', {}, { eeProject: 'ee-other-project' })] }), EE_ALLOWED_PROJECTS: 'ee-test-project' }, /EE_ALLOWED_PROJECTS/],
  ])('refuses %j', (env, message) => {
    expect(() => loadConfig({ ...base, ...env })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, ...env })).toThrow(message);
  });
});

describe('the docs/uploads.md example and the JSON Schema', () => {
  // The whole page: its first JSON block is the example rules document, and it holds the placeholder table.
  const section = readFileSync(new URL('../../docs/uploads.md', import.meta.url), 'utf8');
  const example = /```json\n([\s\S]*?)\n```/.exec(section)?.[1];

  it('the docs/uploads.md example is a valid rules document that does what the page says', () => {
    expect(example).toBeDefined();
    const r = parseUploadRules(example!);
    if (!r.ok) throw new Error(r.errors.join('\n'));
    const router = createUploadRouter(r.rules);
    const scene = obj('incoming/2024/my scene.v2.tif');
    const cog = router.match(scene)!;
    expect(cog.name).toBe('cogs-to-assets');
    expect(buildUploadRequest(cog, scene).assetExportOptions).toEqual({ earthEngineDestination: { name: 'projects/my-ee-project/assets/uploads/my_scene_v2' } });
    expect(router.match(obj('rescale/a.tif', { contentType: null }))!.name).toBe('rescale-to-gcs');
    expect(router.match(obj('incoming/a.png', { contentType: 'image/png' }))).toBeUndefined();
  });

  it('the docs/uploads.md placeholder table agrees with the code', () => {
    const values = placeholderValues(obj('incoming/2024/my scene.v2.tif'));
    for (const [name, value] of Object.entries(values)) expect(section).toContain(`| \`{{${name}}}\` | \`${value}\``);
  });

  it('the JSON Schema points at fields the ExportImageRequest schema has, and forbids requestId', () => {
    const schema = uploadRulesJsonSchema();
    expect(schema.$id).toBe(UPLOAD_RULES_SCHEMA_ID);
    const request = (schema as { properties: { rules: { items: { properties: { request: { properties: Record<string, { $ref: string }>; additionalProperties: boolean } } } } } }).properties.rules.items.properties.request;
    const requestProps = (exportRequestJsonSchema() as { properties: Record<string, unknown> }).properties;
    for (const [key, { $ref }] of Object.entries(request.properties)) {
      expect($ref).toBe(`urn:eeport:schema:export-image-request:v1#/properties/${key}`);
      expect(requestProps[key], key).toBeDefined();
    }
    expect(Object.keys(request.properties)).not.toContain('requestId');
    expect(request.additionalProperties).toBe(false);
  });

  it('every key of the docs/uploads.md example is described by the JSON Schema', () => {
    const schema = uploadRulesJsonSchema() as { properties: Record<string, unknown> & { rules: { items: { properties: Record<string, { properties?: Record<string, unknown> }> } } } };
    const doc = JSON.parse(example!) as { rules: Record<string, Record<string, unknown>>[] };
    expect(Object.keys(doc).every((k) => k in schema.properties)).toBe(true);
    const ruleProps = schema.properties.rules.items.properties;
    for (const r of doc.rules) {
      for (const [k, v] of Object.entries(r)) {
        expect(ruleProps, k).toHaveProperty([k]);
        if (k === 'match' || k === 'request') for (const inner of Object.keys(v)) expect(ruleProps[k]!.properties, `${k}.${inner}`).toHaveProperty([inner]);
      }
    }
  });
});
