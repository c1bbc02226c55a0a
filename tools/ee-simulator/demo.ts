/**
 * Quickstart demo (`npm run demo:sim`): starts the simulator on an accelerated clock,
 * posts one export the way the official JavaScript client does, polls the operation
 * and prints each change until it succeeds. Exits 0 on SUCCEEDED, 1 otherwise.
 */
import { randomUUID } from 'node:crypto';
import { startSimulator } from './index.ts';

const PROJECT = 'demo-project';
const SCALE = 60; // a simulated minute takes a real second
const POLL_MS = 50;
const TIMEOUT_MS = 20_000;
const HEADERS = { authorization: 'Bearer demo-token', 'content-type': 'application/json' };

// The body the official JS client posts for ee.Image(id).select(['B4']) exported to
// Cloud Storage at scale 30 with maxPixels 1e10 (see the Earth Engine API reference notes).
const exportBody = {
  description: 'demo-b4-export',
  expression: {
    result: '0',
    values: {
      '0': {
        functionInvocationValue: {
          functionName: 'Image.clipToBoundsAndScale',
          arguments: {
            input: {
              functionInvocationValue: {
                functionName: 'Image.select',
                arguments: {
                  input: { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: 'projects/p/assets/a' } } } },
                  bandSelectors: { constantValue: ['B4'] },
                },
              },
            },
            scale: { constantValue: 30 },
          },
        },
      },
    },
  },
  fileExportOptions: {
    cloudStorageDestination: { bucket: 'b', filenamePrefix: 'exports/x' },
    fileFormat: 'GEO_TIFF',
    geoTiffOptions: { cloudOptimized: false, skipEmptyFiles: false },
  },
  maxPixels: '10000000000',
  requestId: randomUUID(),
};

interface Op {
  name: string;
  done?: boolean;
  error?: { code: number; message: string };
  metadata: { state: string; progress?: number; createTime: string; updateTime: string; destinationUris?: string[]; batchEecuUsageSeconds?: number };
}

async function call(url: string, init: RequestInit = {}): Promise<Op> {
  const res = await fetch(url, { ...init, headers: HEADERS });
  const body = (await res.json()) as Op & { error?: { message: string } };
  if (!res.ok) throw new Error(`${res.status} ${body.error?.message ?? ''}`);
  return body;
}

const sim = await startSimulator({ clock: { mode: 'scaled', scale: SCALE } });
let exitCode = 1;
try {
  console.log(`Earth Engine simulator at ${sim.url} (clock x${SCALE}; times below are simulated)`);
  const op = await call(`${sim.url}/v1/projects/${PROJECT}/image:export`, { method: 'POST', body: JSON.stringify(exportBody) });
  console.log(`POST image:export -> ${op.name}`);
  const start = Date.parse(op.metadata.createTime);
  const elapsed = (o: Op): string => new Date(Date.parse(o.metadata.updateTime) - start).toISOString().slice(11, 19);

  let last = '';
  const deadline = Date.now() + TIMEOUT_MS;
  let current = op;
  for (;;) {
    const quarter = Math.floor((current.metadata.progress ?? 0) * 4) * 25;
    const line = current.metadata.state === 'RUNNING' ? `RUNNING   progress ${quarter}%` : current.metadata.state;
    if (line !== last) {
      console.log(`  +${elapsed(current)}  ${line}`);
      last = line;
    }
    if (current.done) break;
    if (Date.now() > deadline) throw new Error(`no result within ${TIMEOUT_MS / 1000}s`);
    await new Promise((r) => setTimeout(r, POLL_MS));
    current = await call(`${sim.url}/v1/${op.name}`);
  }
  if (current.metadata.state !== 'SUCCEEDED') throw new Error(`ended ${current.metadata.state}: ${current.error?.message ?? ''}`);
  console.log(`  ${current.metadata.batchEecuUsageSeconds ?? 0} EECU-seconds; written to:`);
  for (const uri of current.metadata.destinationUris ?? []) console.log(`    ${uri}`);
  exitCode = 0;
} catch (e) {
  console.error(`Demo failed: ${(e as Error).message}`);
} finally {
  await sim.close();
}
process.exit(exitCode);
