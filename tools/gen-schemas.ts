/**
 * Writes the generated files: the JSON Schemas in docs/schemas/ and the HTTP API's
 * docs/openapi.json (from the zod schemas), and infra/firestore.indexes.json (from the
 * index list kept next to the queries).
 *
 *   npx tsx tools/gen-schemas.ts
 *
 * The files are committed so that people and tools outside TypeScript can read
 * them; a unit test fails when a committed file differs from a fresh generation.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXPORT_REQUEST_SCHEMA_ID, exportRequestJsonSchema } from '../functions/src/core/requests/index.ts';
import { submitEnvelopeJsonSchema } from '../functions/src/core/requests/index.ts';
import { FIRESTORE_INDEXES } from '../functions/src/adapters/job-store.firestore.ts';
import { apiOpenApiDocument } from '../functions/src/core/api/index.ts';
import { uploadRulesJsonSchema } from '../functions/src/core/uploads/index.ts';
import { asyncApiDocument } from './asyncapi.ts';

/** Firestore's index file format, from the list the queries document next to themselves. */
export function firestoreIndexes() {
  return {
    indexes: FIRESTORE_INDEXES.map((ix) => ({
      collectionGroup: ix.collection,
      queryScope: 'COLLECTION',
      // CONTAINS marks an array field queried with array-contains; the file format calls that arrayConfig.
      fields: ix.fields.map(([fieldPath, order]) => (order === 'CONTAINS' ? { fieldPath, arrayConfig: order } : { fieldPath, order })),
    })),
    fieldOverrides: [],
  };
}

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Every generated file, by path relative to the repository root. */
export const GENERATED_SCHEMAS: readonly { file: string; build: () => unknown }[] = [
  { file: 'docs/schemas/export-image-request.schema.json', build: exportRequestJsonSchema },
  { file: 'infra/firestore.indexes.json', build: firestoreIndexes },
  { file: 'docs/schemas/submit-envelope.schema.json', build: () => submitEnvelopeJsonSchema(EXPORT_REQUEST_SCHEMA_ID) },
  { file: 'docs/openapi.json', build: apiOpenApiDocument },
  { file: 'docs/schemas/upload-rules.schema.json', build: () => uploadRulesJsonSchema() },
  { file: 'docs/asyncapi.json', build: asyncApiDocument },
];

/** The exact file content: two-space JSON with a final newline, so output is stable. */
export function renderSchema(schema: unknown): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}

function main(): void {
  for (const { file, build } of GENERATED_SCHEMAS) {
    const path = resolve(REPO_ROOT, file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, renderSchema(build()));
    console.log(`wrote ${file}`);
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
