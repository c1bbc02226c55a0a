/**
 * The layering rules (.dependency-cruiser.cjs) are a check that fails: run on a small
 * tree shaped like ours, a deliberate reach-in is reported by its rule's name, and the
 * same tree without it passes. The real tree is checked by `npm run depcheck`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../tools/build-bundles.ts';

const CONFIG = join(REPO_ROOT, '.dependency-cruiser.cjs');
const DEPCRUISE = join(REPO_ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

/** A core with two capabilities, a kernel, ports, an adapter and a tool: all legal. */
const LEGAL: Record<string, string> = {
  'functions/src/core/kernel/errors.ts': 'export class Oops extends Error {}\n',
  'functions/src/core/kernel/index.ts': "export { Oops } from './errors.ts';\n",
  // job.ts → ports.ts → jobs/index.ts → job.ts: a cycle of types only, as the real core has (erased at compilation).
  'functions/src/core/jobs/job.ts': "import { Oops } from '../kernel/index.ts';\nimport type { Maker } from '../ports.ts';\nexport const newJob = (_m?: Maker) => { if (!Oops) throw new Error(); return 1; };\n",
  'functions/src/core/jobs/slots.ts': 'export const probe = () => 2;\n',
  'functions/src/core/jobs/index.ts': "export { newJob } from './job.ts';\n",
  'functions/src/core/poll/poll.ts': "import { newJob } from '../jobs/index.ts';\nexport const poll = () => newJob();\n",
  'functions/src/core/poll/index.ts': "export { poll } from './poll.ts';\n",
  'functions/src/core/ports.ts': "import type { newJob } from './jobs/index.ts';\nexport type Maker = typeof newJob;\n",
  'functions/src/adapters/store.ts': "import { poll } from '../core/poll/index.ts';\nexport const store = () => poll();\n",
  'tools/cli.ts': "import { newJob } from '../functions/src/core/jobs/index.ts';\nexport const cli = () => newJob();\n",
};

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'eeport-layers-'));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', allowImportingTsExtensions: true, noEmit: true } }));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function write(files: Record<string, string>) {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
}

/** What dependency-cruiser reports: each violation's rule and the module it starts from (empty when the tree passes). */
function violations(): { rule: string; from: string }[] {
  try {
    execFileSync(process.execPath, [DEPCRUISE, 'functions', 'tools', '--config', CONFIG, '--output-type', 'err'], { cwd: dir, stdio: 'pipe' });
    return [];
  } catch (err) {
    const out = String((err as { stdout?: Buffer }).stdout ?? '');
    const found = [...out.matchAll(/error ([a-z-]+): (\S+)/g)].map((m) => ({ rule: m[1]!, from: m[2]! }));
    if (!found.length) throw err;
    return found;
  }
}

/** Each deliberate breach, the file that commits it, and the rule that must name it. */
const BREACHES: [what: string, path: string, text: string, rule: string][] = [
  ['a capability reaching into another capability’s file', 'functions/src/core/poll/reach.ts', "import { probe } from '../jobs/slots.ts';\nexport const r = probe;\n", 'core-capability-public-face'],
  ['an adapter reaching into a capability’s file', 'functions/src/adapters/reach.ts', "import { probe } from '../core/jobs/slots.ts';\nexport const r = probe;\n", 'outside-core-public-face'],
  ['a tool reaching into a capability’s file', 'tools/reach.ts', "import { probe } from '../functions/src/core/jobs/slots.ts';\nexport const r = probe;\n", 'outside-core-public-face'],
  ['the kernel depending on a capability', 'functions/src/core/kernel/reach.ts', "import { newJob } from '../jobs/index.ts';\nexport const r = newJob;\n", 'kernel-stands-alone'],
  ['the core importing a Google client', 'functions/src/core/jobs/google.ts', "import { Firestore } from '@google-cloud/firestore';\nexport const f = Firestore;\n", 'core-no-google'],
  ['the core importing an adapter', 'functions/src/core/jobs/outer.ts', "import { store } from '../../adapters/store.ts';\nexport const s = store;\n", 'core-no-outer-layers'],
  ['deployable code importing tools', 'functions/src/adapters/tool.ts', "import { cli } from '../../../tools/cli.ts';\nexport const c = cli;\n", 'functions-not-tools'],
  // A runtime cycle between two capabilities of their own (a ↔ b), each through the other's index.
  ['a runtime cycle between capabilities', 'functions/src/core/cyc-a/a.ts', "import { b } from '../cyc-b/index.ts';\nexport const a = () => (b ? 1 : 0);\n", 'no-circular'],
];
const CYCLE_REST: Record<string, string> = {
  'functions/src/core/cyc-a/index.ts': "export { a } from './a.ts';\n",
  'functions/src/core/cyc-b/b.ts': "import { a } from '../cyc-a/index.ts';\nexport const b = () => a();\n",
  'functions/src/core/cyc-b/index.ts': "export { b } from './b.ts';\n",
};

describe('layering rules', () => {
  it('a tree that keeps them passes (type-only cycles through ports.ts included)', () => {
    write(LEGAL);
    expect(violations()).toEqual([]);
  });

  it('every deliberate breach fails, each named by its rule at the file that commits it', () => {
    write({ ...LEGAL, ...CYCLE_REST, ...Object.fromEntries(BREACHES.map(([, path, text]) => [path, text])) });
    const found = violations();
    for (const [what, path, , rule] of BREACHES) {
      expect(
        found.some((v) => v.rule === rule && (v.from === path || rule === 'no-circular')),
        `${what}: expected ${rule} at ${path}, got ${JSON.stringify(found)}`,
      ).toBe(true);
    }
    expect(found.filter((v) => v.rule === 'no-circular').every((v) => v.from.includes('/cyc-'))).toBe(true);
  });
});
