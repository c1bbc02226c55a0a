/** The estimates use case on an instance's graph (used by the poller, which records estimates, the API and the topic's dry run). */
import { createEstimates } from '../core/estimates/index.ts';
import { perGraph, type Graph } from './instance.ts';

/** One per graph, so its minute of cached history serves every call the instance answers. */
export const wireEstimates = perGraph((graph: Graph) => {
  const { config, adapters } = graph;
  return createEstimates({
    store: adapters.store,
    clock: adapters.clock,
    settings: { minSamples: config.ESTIMATE_MIN_SAMPLES, priorEecuPerMegapixel: config.ESTIMATE_PRIOR_EECU_PER_MEGAPIXEL, priorEecuPerTask: 100, priorSpread: 10, historyJobs: 500, cacheSeconds: 60, budgets: config.EECU_BUDGETS },
  });
});
