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
  'functions/src/core/jobs/job.ts': "import { Oops } from '../kernel/index.ts';\nexport const newJob = () => { if (!Oops) throw new Error(); return 1; };\n",
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

/** The rule names dependency-cruiser reports (empty when the tree passes). */
function violations(): string[] {
  try {
    execFileSync(process.execPath, [DEPCRUISE, 'functions', 'tools', '--config', CONFIG, '--output-type', 'err'], { cwd: dir, stdio: 'pipe' });
    return [];
  } catch (err) {
    const out = String((err as { stdout?: Buffer }).stdout ?? '');
    const rules = [...out.matchAll(/error ([a-z-]+):/g)].map((m) => m[1]!);
    if (!rules.length) throw err;
    return rules;
  }
}

describe('layering rules', () => {
  it('a tree that keeps them passes', () => {
    write(LEGAL);
    expect(violations()).toEqual([]);
  });

  it.each([
    ['a capability reaching into another capability’s file', 'functions/src/core/poll/reach.ts', "import { probe } from '../jobs/slots.ts';\nexport const r = probe;\n", 'core-capability-public-face'],
    ['an adapter reaching into a capability’s file', 'functions/src/adapters/reach.ts', "import { probe } from '../core/jobs/slots.ts';\nexport const r = probe;\n", 'outside-core-public-face'],
    ['a tool reaching into a capability’s file', 'tools/reach.ts', "import { probe } from '../functions/src/core/jobs/slots.ts';\nexport const r = probe;\n", 'outside-core-public-face'],
    ['the kernel depending on a capability', 'functions/src/core/kernel/reach.ts', "import { newJob } from '../jobs/index.ts';\nexport const r = newJob;\n", 'kernel-stands-alone'],
    ['the core importing a Google client', 'functions/src/core/jobs/google.ts', "import { Firestore } from '@google-cloud/firestore';\nexport const f = Firestore;\n", 'core-no-google'],
    ['the core importing an adapter', 'functions/src/core/jobs/outer.ts', "import { store } from '../../adapters/store.ts';\nexport const s = store;\n", 'core-no-outer-layers'],
    ['deployable code importing tools', 'functions/src/adapters/tool.ts', "import { cli } from '../../../tools/cli.ts';\nexport const c = cli;\n", 'functions-not-tools'],
  ])('%s fails with its rule named', (_what, path, text, rule) => {
    write({ ...LEGAL, [path]: text });
    expect(violations()).toContain(rule);
  });

  it('a runtime cycle between capabilities fails', () => {
    write({
      ...LEGAL,
      'functions/src/core/jobs/job.ts': "import { poll } from '../poll/index.ts';\nexport const newJob = () => (poll ? 1 : 0);\n",
    });
    expect(violations()).toContain('no-circular');
  });
});
