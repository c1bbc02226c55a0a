/**
 * Layering rules (see docs/adr/0002-layers.md): the core is pure domain logic and
 * knows Earth Engine, Firestore and Pub/Sub only through its ports.
 */
const GOOGLE = '^(@google-cloud/|google-auth-library|gaxios|@google/earthengine|firebase)';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'core-no-google',
      severity: 'error',
      comment: 'The core imports no Google client; adapters implement its ports.',
      from: { path: '^functions/src/core/' },
      to: { path: GOOGLE },
    },
    {
      name: 'core-no-outer-layers',
      severity: 'error',
      comment: 'The core never reaches out to adapters, entry points or the composition root.',
      from: { path: '^functions/src/core/' },
      to: { path: '^functions/src/(adapters|entry|composition|composition-root|index)' },
    },
    {
      name: 'core-no-node-io',
      severity: 'error',
      comment: 'The core does no I/O of its own (no net/http/fs); it gets everything through ports.',
      from: { path: '^functions/src/core/' },
      to: { dependencyTypes: ['core'], path: '^(fs|net|http|https|dns|child_process)$' },
    },
    {
      name: 'core-capability-public-face',
      severity: 'error',
      comment:
        'A capability folder of the core (jobs/, submit/, poll/, ...) is reached from another ' +
        'capability only through its index.ts; what is not exported there is its own business.',
      from: { path: '^functions/src/core/([^/]+)/' },
      to: {
        path: '^functions/src/core/[^/]+/[^/]+$',
        pathNot: ['^functions/src/core/$1/', '^functions/src/core/[^/]+/index[.]ts$'],
      },
    },
    {
      name: 'outside-core-public-face',
      severity: 'error',
      comment: 'Adapters, composition, entry points and tools use a capability only through its index.ts.',
      from: { path: '^(functions|tools)/', pathNot: '^functions/src/core/' },
      to: {
        path: '^functions/src/core/[^/]+/[^/]+$',
        pathNot: '^functions/src/core/[^/]+/index[.]ts$',
      },
    },
    {
      name: 'kernel-stands-alone',
      severity: 'error',
      comment: 'The kernel (errors, page tokens) is what every capability shares; it depends on none of them.',
      from: { path: '^functions/src/core/kernel/' },
      to: { path: '^functions/src/core/', pathNot: '^functions/src/core/kernel/' },
    },
    {
      name: 'adapters-not-entry',
      severity: 'error',
      comment: 'Adapters do not depend on entry points.',
      from: { path: '^functions/src/adapters/' },
      to: { path: '^functions/src/(entry|index)' },
    },
    {
      name: 'functions-not-tools',
      severity: 'error',
      comment: 'Deployable code never imports the simulator or local tooling.',
      from: { path: '^functions/' },
      to: { path: '^(tools|test|bench)/' },
    },
    {
      name: 'simulator-stands-alone',
      severity: 'error',
      comment:
        'The Earth Engine simulator stands in for Google: it shares no code with eeport, its tools ' +
        'or its tests (it keeps its own sample requests), so it cannot agree with us by accident.',
      from: { path: '^tools/ee-simulator/' },
      to: { path: '^(functions|test|bench|tools)/', pathNot: '^tools/ee-simulator/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'No runtime cycles. core/ports.ts names the domain types it carries (Job, Batch, ...), so ' +
        'cycles through an `import type` are expected; they vanish at compilation.',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // 'specify': type-only imports are kept and marked, so no-circular can tell them apart.
    tsPreCompilationDeps: 'specify',
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
